import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BEGIN,
  END,
  renderReadme,
  renderTables,
  terraformDocDirs,
  withTables,
} from '../../../scripts/terraform-docs.ts';

const tfRoot = path.resolve(import.meta.dirname, '../../../infra/terraform');

describe('Terraform README input/output tables', () => {
  const dirs = terraformDocDirs(tfRoot);

  it('covers every module and environment directory', () => {
    expect(dirs).toEqual(
      expect.arrayContaining([
        'environments/dev',
        'modules/data-snapshots',
        'modules/ec2-dalston',
        'modules/host-config',
        'modules/iam-dalston',
        'modules/s3-artifacts',
        'modules/stop-schedule',
      ]),
    );
  });

  for (const dir of terraformDocDirs(tfRoot)) {
    it(`${dir}/README.md is current (run \`npm run docs:terraform\` after changing variables or outputs)`, async () => {
      const r = await renderReadme(path.join(tfRoot, dir));
      expect(r.current, `${dir}/README.md exists`).toBeDefined();
      expect(r.current).toBe(r.wanted);
      // Parsing HCL (a WebAssembly parser) takes seconds on a busy 2-core machine.
    }, 60_000);
  }

  it('every README has the generated tables', () => {
    const without = dirs.filter(
      (d) => !readFileSync(path.join(tfRoot, d, 'README.md'), 'utf8').includes(BEGIN),
    );
    expect(without).toEqual([]);
  });
});

describe('the table renderer', () => {
  const tf = (content: string) => [{ name: 'variables.tf', content }];

  it('lists name, type, default, required and description; outputs with descriptions', async () => {
    const block = await renderTables([
      {
        name: 'variables.tf',
        content: `
variable "zone" {
  description = "Where | it runs."
  type        = string
}
variable "count_days" {
  description = "Days."
  type        = number
  default     = 30
}
variable "prefixes" {
  description = "Prefixes."
  type        = list(string)
  default     = ["jobs/", "status/"]
}
variable "maybe" {
  description = "Optional."
  type        = string
  default     = null
}
`,
      },
      { name: 'outputs.tf', content: 'output "id" {\n  description = "The id."\n  value = "x"\n}\n' },
    ]);
    expect(block.startsWith(BEGIN)).toBe(true);
    expect(block.endsWith(END)).toBe(true);
    const rows = block.split('\n').filter((l) => l.startsWith('|'));
    expect(rows).toEqual([
      '| Name         | Type           | Default               | Required | Description       |',
      '| ------------ | -------------- | --------------------- | -------- | ----------------- |',
      '| `count_days` | `number`       | `30`                  | no       | Days.             |',
      '| `maybe`      | `string`       | `null`                | no       | Optional.         |',
      '| `prefixes`   | `list(string)` | `["jobs/","status/"]` | no       | Prefixes.         |',
      '| `zone`       | `string`       | n/a                   | yes      | Where \\| it runs. |',
      '| Name | Description |',
      '| ---- | ----------- |',
      '| `id` | The id.     |',
    ]);
  });

  it('a changed description or default changes the block, so a stale README fails the test above', async () => {
    const a = await renderTables(
      tf('variable "x" {\n  description = "One."\n  type = number\n  default = 1\n}\n'),
    );
    const b = await renderTables(
      tf('variable "x" {\n  description = "One."\n  type = number\n  default = 2\n}\n'),
    );
    const c = await renderTables(
      tf('variable "x" {\n  description = "Two."\n  type = number\n  default = 1\n}\n'),
    );
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('keeps the prose around the markers byte for byte, and appends a section when there are none', () => {
    const block = `${BEGIN}\nNEW\n${END}`;
    const readme = `# m\n\nProse before.\n\n${BEGIN}\nOLD\n${END}\n\nProse after.\n`;
    expect(withTables(readme, block)).toBe(`# m\n\nProse before.\n\n${BEGIN}\nNEW\n${END}\n\nProse after.\n`);
    expect(withTables(withTables(readme, block), block)).toBe(withTables(readme, block));
    expect(withTables('# m\n\nJust prose.', block)).toBe(
      `# m\n\nJust prose.\n\n## Inputs and outputs\n\n${block}\n`,
    );
    expect(() => withTables(`# m\n${BEGIN}\n`, block)).toThrow(/only one of the markers/);
  });
});
