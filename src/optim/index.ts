/** Optimisers, gradient clipping and learning-rate schedules. */
export { Optimizer, type OptimizerStateDict, type ParamState, type ParamsArg } from './optimizer.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { SGD, type SGDOptions } from './sgd.js';
export { clipGradNorm } from './clip.js';
export { cosineSchedule, stepSchedule, type Schedule, type CosineScheduleOptions, type StepScheduleOptions } from './schedule.js';
