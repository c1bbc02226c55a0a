#!/usr/bin/env node
// The `eeport` command (package.json "bin"): registers tsx's loader so that Node runs the
// TypeScript sources as they are, then hands over to tools/cli/eeport.ts. Works from a
// clone after `npm ci`: `npx eeport …`, `npm run eeport -- …`, or `node tools/cli/bin.js …`.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)) });
await import('./eeport.ts');
