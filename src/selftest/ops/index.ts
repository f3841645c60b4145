/** Every op check of the self-test, in the order they run. */
import type { SelftestCheck } from '../check.js';
import { matmulChecks } from './matmul.js';
import { convChecks } from './conv.js';
import { rowChecks } from './rows.js';
import { elementwiseChecks } from './elementwise.js';
import { attentionChecks } from './attention.js';
import { gdfnChecks } from './gdfn.js';
import { ddpmChecks } from './ddpm.js';
import { layoutChecks } from './layout.js';
import { fftChecks } from './fft.js';
import { poolChecks } from './pool.js';
import { lossChecks } from './loss.js';
import { degradeChecks } from './degrade.js';

export function opChecks(): SelftestCheck[] {
  return [
    ...matmulChecks(),
    ...convChecks(),
    ...rowChecks(),
    ...elementwiseChecks(),
    ...attentionChecks(),
    ...gdfnChecks(),
    ...ddpmChecks(),
    ...layoutChecks(),
    ...fftChecks(),
    ...poolChecks(),
    ...lossChecks(),
    ...degradeChecks(),
  ];
}
