// vitest setup file: writes the name of each test as it starts to a file named for its test file,
// in the folder worker-crash-reporter.ts makes. A process that dies natively leaves that record;
// vitest's own results arrive in batches and lose the last ones with the process.
import { beforeEach, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.LRDIF_TEST_PROGRESS_DIR;
const file = expect.getState().testPath;
if (dir && file) {
  const record = join(dir, encodeURIComponent(file));
  writeFileSync(record, '');
  beforeEach((ctx) => {
    const prefix = `${ctx.task.file.name} > `; // the file is named already
    const name = ctx.task.fullName;
    writeFileSync(record, name.startsWith(prefix) ? name.slice(prefix.length) : name);
  });
}
