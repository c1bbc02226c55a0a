/**
 * Entry point of the `eeport` CLI (run through tools/cli/bin.js, `npm run eeport --`,
 * or `npx tsx tools/cli/eeport.ts`). See program.ts, and `eeport --help`.
 */
import { main } from './program.ts';

await main();
