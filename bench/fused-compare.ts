/** What the fused-kernel suites share: timed forward and forward+backward calls, and the ratio notes. */
import { backward, type Tensor } from '../src/node.js';
import type { Impl, Row } from './harness.js';

/** One call of `forward` per run; the last result is read back, every result freed. */
export function forwardImpl(forward: () => Tensor): Impl<Tensor> {
  return {
    run: forward,
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
}

/** Forward + backward with upstream gradient g; each call's gradients are taken off the leaves `ins` and freed after. */
export function trainingImpl(forward: () => Tensor, ins: Tensor[], g: Tensor): Impl<Tensor[]> {
  return {
    run: () => {
      const y = forward();
      backward(y, { grad: g });
      y.dispose();
      const grads = ins.map((x) => x.grad!);
      for (const x of ins) x.grad = null;
      return grads;
    },
    finish: async (rs) => {
      await rs[rs.length - 1][0].data();
      for (const r of rs) for (const t of r) t.dispose();
    },
  };
}

export function addNote(row: Row, text: string): void {
  row.note = row.note ? `${row.note}; ${text}` : text;
}

/** Notes on the fused row how much slower the other one was (`label`: e.g. unfused/fused), wall and GPU time, and prints it. */
export function addRatioNote(fused: Row, other: Row, label = 'unfused/fused', extra = ''): void {
  const wall = other.ours_wall_ms / fused.ours_wall_ms;
  const gpu = fused.ours_metric === 'gpu' && other.ours_metric === 'gpu' ? other.ours_ms / fused.ours_ms : null;
  const text = `${label}: wall ${wall.toFixed(2)}×${gpu === null ? '' : `, gpu ${gpu.toFixed(2)}×`}${extra}`;
  addNote(fused, text);
  console.log(
    `   ${fused.name} ${fused.shape}: ${text} (fused ${fused.ours_wall_ms.toFixed(2)} ms wall, ${fused.ours_ms.toFixed(2)} ms ${fused.ours_metric}; other ${other.ours_wall_ms.toFixed(2)} ms wall, ${other.ours_ms.toFixed(2)} ms ${other.ours_metric})`,
  );
}
