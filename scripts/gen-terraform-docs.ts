// Regenerates the input/output tables of every Terraform module and environment README.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderReadme, terraformDocDirs } from './terraform-docs.ts';

const tfRoot = path.resolve(import.meta.dirname, '../infra/terraform');
for (const dir of terraformDocDirs(tfRoot)) {
  const r = await renderReadme(path.join(tfRoot, dir));
  if (r.current === r.wanted) continue;
  writeFileSync(r.path, r.wanted);
  console.log(`wrote infra/terraform/${dir}/README.md`);
}
