/** What each command file gets from main.ts: a way to run an async action that turns failures into exit codes. */
import type { Command } from 'commander';

/** An action returns its exit code (undefined means 0) or throws. */
export type Action<A extends unknown[]> = (...args: A) => Promise<number | void>;

/** Adapts an `Action` into a commander action handler. */
export type Wrap = <A extends unknown[]>(fn: Action<A>) => (...args: A) => Promise<void>;

/** A command file's entry: adds its command(s) to the program. */
export type Register = (program: Command, wrap: Wrap) => void;
