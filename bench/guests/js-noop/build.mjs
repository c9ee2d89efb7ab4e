// Builds noop.js into a component of the `step` world: `node build.mjs <wit dir> <out.wasm>`.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const [witPath, out] = process.argv.slice(2);
if (!witPath || !out) {
  console.error('usage: node build.mjs <wit dir> <out.wasm>');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: fileURLToPath(new URL('./noop.js', import.meta.url)),
  witPath,
  worldName: 'step',
  // The step world gives no network; fetch support would only add imports the sandbox refuses.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
