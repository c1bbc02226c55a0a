/** The one table `npm start` prints: what runs where, and how to use it. */
export interface Row {
  service: string;
  where: string;
  /** One or more lines; long commands are left whole so they can be copied. */
  how: string[];
}

export function renderTable(rows: readonly Row[]): string {
  const w1 = Math.max('service'.length, ...rows.map((r) => r.service.length));
  const w2 = Math.max('where'.length, ...rows.map((r) => r.where.length));
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w1)}  ${b.padEnd(w2)}  ${c}`.trimEnd();
  const out = [line('service', 'where', 'how to use it'), line('─'.repeat(w1), '─'.repeat(w2), '─'.repeat(13))];
  for (const r of rows) {
    const [first = '', ...rest] = r.how;
    out.push(line(r.service, r.where, first));
    for (const more of rest) out.push(line('', '', more));
  }
  return out.join('\n');
}
