/**
 * Submit's per-instance admission (core/jobs/slots.ts createAdmissionGate, ADR 0012):
 * a remembered count stands in for a new one only while the project is far below its
 * cap and the count is young; near the cap, or once it is old, admissions count again,
 * and those deciding at once share one count and take turns from it.
 */
import { describe, it, expect } from 'vitest';
import { createAdmissionGate, rememberedCountMargin } from '../../functions/src/core/jobs/slots.ts';

function world(cap: number, maxAgeMs: number, inFlight = 0) {
  const w = { inFlight, counts: 0, t: 0, hold: null as null | Promise<void> };
  const gate = createAdmissionGate({
    cap,
    maxAgeMs,
    now: () => w.t,
    count: async () => {
      w.counts++;
      const seen = w.inFlight;
      if (w.hold) await w.hold;
      return seen;
    },
  });
  return { w, gate };
}

describe('createAdmissionGate', () => {
  it('far below the cap, one count serves the admissions that follow within maxAgeMs; then it counts again', async () => {
    const { w, gate } = world(1_000, 1_000);
    for (let i = 0; i < 20; i++) expect(await gate.admit('p')).toBe(true);
    expect(w.counts).toBe(1);
    w.t = 1_001;
    expect(await gate.admit('p')).toBe(true);
    expect(w.counts).toBe(2);
  });

  it('counts its own admissions: the remembered count stops standing in a margin below the cap, and from there every admission counts', async () => {
    const cap = 1_000;
    const margin = rememberedCountMargin(cap);
    expect(margin).toBe(100);
    const { w, gate } = world(cap, 60_000, cap - margin - 5);
    // Each admission is a job in flight in the world too (this instance made it).
    const admit = async () => {
      const ok = await gate.admit('p');
      if (ok) w.inFlight++;
      return ok;
    };
    for (let i = 0; i < 5; i++) expect(await admit()).toBe(true);
    expect(w.counts).toBe(1); // 895 counted; 896..900 granted from memory
    const before = w.counts;
    while (await admit());
    // Exact at the cap: sequential admissions never pass it.
    expect(w.inFlight).toBe(cap);
    expect(w.counts - before).toBe(margin + 1); // one count per admission near the cap, and one for the refusal
  });

  it('a project at or past its cap is refused, and each project is remembered on its own', async () => {
    const { w, gate } = world(100, 1_000, 100);
    expect(await gate.admit('p')).toBe(false);
    w.inFlight = 0;
    expect(await gate.admit('q')).toBe(true);
    expect(await gate.admit('p')).toBe(true); // near the cap (100 < 50 + margin): counted again, now empty
    expect(w.counts).toBe(3);
  });

  it('admissions deciding at once near the cap share one count and take turns: no overshoot among them', async () => {
    const cap = 10;
    const { w, gate } = world(cap, 1_000, 7);
    let release!: () => void;
    w.hold = new Promise<void>((r) => (release = r));
    const answers = Array.from({ length: 8 }, () => gate.admit('p'));
    release();
    const granted = (await Promise.all(answers)).filter(Boolean).length;
    expect(granted).toBe(cap - 7);
    expect(w.counts).toBe(1);
  });

  it('maxAgeMs 0 counts every admission, as before the gate', async () => {
    const { w, gate } = world(1_000, 0);
    for (let i = 0; i < 5; i++) await gate.admit('p');
    expect(w.counts).toBe(5);
  });

  it('a clock that goes back does not make an old count young', async () => {
    const { w, gate } = world(1_000, 1_000);
    w.t = 5_000;
    await gate.admit('p');
    w.t = 4_000;
    await gate.admit('p');
    expect(w.counts).toBe(2);
  });

  it('a failed count fails every admission waiting on it, and the next admission counts again', async () => {
    let fail = true;
    const gate = createAdmissionGate({ cap: 1_000, maxAgeMs: 1_000, now: () => 0, count: async () => { if (fail) throw new Error('count failed'); return 0; } });
    await expect(Promise.all([gate.admit('p'), gate.admit('p')])).rejects.toThrow('count failed');
    fail = false;
    await expect(gate.admit('p')).resolves.toBe(true);
  });
});
