/**
 * Learning-rate schedules as pure functions step → lr (step counts from 0, the first update).
 * Set `optimizer.lr = schedule(step)` before each `step()`.
 */

export type Schedule = (step: number) => number;

export interface CosineScheduleOptions {
  baseLr: number;
  /** Steps of the whole schedule, warm-up included; after it the rate stays at minLr. */
  totalSteps: number;
  /** Linear warm-up: lr = baseLr·(step + 1)/warmupSteps for step < warmupSteps. */
  warmupSteps?: number;
  minLr?: number;
}

/**
 * Linear warm-up, then cosine annealing over the remaining T = totalSteps − warmupSteps steps:
 * lr = minLr + (baseLr − minLr)·(1 + cos(π·t/T))/2 with t = step − warmupSteps, which is the
 * closed form of torch.optim.lr_scheduler.CosineAnnealingLR(T_max = T, eta_min = minLr) at epoch t.
 */
export function cosineSchedule(options: CosineScheduleOptions): Schedule {
  const { baseLr, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  const minLr = options.minLr ?? 0;
  if (!(baseLr >= 0)) throw new Error(`lrdif: cosineSchedule: baseLr must be ≥ 0, got ${baseLr}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`lrdif: cosineSchedule: warmupSteps must be an integer ≥ 0, got ${warmup}`);
  if (!Number.isInteger(totalSteps) || totalSteps <= warmup) {
    throw new Error(`lrdif: cosineSchedule: totalSteps must be an integer greater than warmupSteps (${warmup}), got ${totalSteps}`);
  }
  const T = totalSteps - warmup;
  return (step: number) => {
    if (step < warmup) return (baseLr * (step + 1)) / warmup;
    const t = Math.min(step - warmup, T);
    return minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * t) / T))) / 2;
  };
}

export interface StepScheduleOptions {
  baseLr: number;
  stepSize: number;
  gamma?: number;
}

/** baseLr·gamma^⌊step/stepSize⌋, as torch.optim.lr_scheduler.StepLR (gamma defaults to 0.1 as there). */
export function stepSchedule(options: StepScheduleOptions): Schedule {
  const { baseLr, stepSize } = options;
  const gamma = options.gamma ?? 0.1;
  if (!Number.isInteger(stepSize) || stepSize <= 0) throw new Error(`lrdif: stepSchedule: stepSize must be a positive integer, got ${stepSize}`);
  return (step: number) => baseLr * gamma ** Math.floor(step / stepSize);
}
