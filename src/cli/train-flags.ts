/**
 * The flags of `lrdif train` and `lrdif sweep`, built from the one declaration of the run options
 * (src/train/options.ts), and the run options read back from what commander parsed.
 */
import { Option, type Command } from 'commander';
import { flagOf, OPTION_NAMES, resumableOptions, TRAIN_OPTIONS, type OptionSpec, type TrainRunOptions } from '../train/options.js';
import { defaultCacheDir } from '../train/store-node.js';
import { choiceArg, collectSet, intArg, numArg, readJsonFile } from './args.js';

function flagOption(cmd: string, name: keyof TrainRunOptions): Option[] {
  const spec = TRAIN_OPTIONS[name] as OptionSpec<unknown>;
  const flag = flagOf(name).slice(2);
  const help = (spec.stage ? `stage ${spec.stage}: ${spec.help}` : spec.help) + (spec.required ? ' (required)' : '');
  const k = spec.kind;
  const withDefault = (o: Option) => (spec.required || spec.default === null || spec.default === undefined || spec.default === '' ? o : o.default(spec.default));
  switch (k.type) {
    case 'int':
      return [withDefault(new Option(`--${flag} <n>`, help).argParser(intArg(cmd, flag, k.min, k.max)))];
    case 'number':
      return [withDefault(new Option(`--${flag} <x>`, help).argParser(numArg(cmd, flag, k.min, k.max, k.exclusiveMin)))];
    case 'choice':
      return [withDefault(new Option(`--${flag} <${k.choices.join('|')}>`, help).argParser(choiceArg(cmd, flag, k.choices)))];
    case 'string':
      return [withDefault(new Option(`--${flag} <${k.arg}>`, help))];
    case 'flag':
      return [new Option(`--${flag}`, help)];
    case 'negated':
      return [new Option(`--${flag}`, help)];
    case 'set':
      return [new Option(`--${flag} <field=value>`, help).argParser(collectSet(cmd)).default({}, 'none')];
    case 'json-file':
      return [new Option(`--${flag} <file>`, help).argParser((v: string) => readJsonFile(cmd, `the ${flag.replace(/-/g, ' ')}`, v))];
    case 'cache':
      return [new Option(`--${flag} <dir>`, help), new Option(`--no-${flag}`, 'keep the embeddings in memory only')];
  }
}

/** Adds the declared flags of `scope` ('shared' for sweep, 'train' adds the train-only ones too); `except` are left to the command. */
export function addRunOptionFlags(c: Command, cmd: string, scope: 'shared' | 'train', except: ReadonlyArray<keyof TrainRunOptions> = []): Command {
  for (const name of OPTION_NAMES) {
    if (except.includes(name)) continue;
    if (scope === 'shared' && TRAIN_OPTIONS[name].scope !== 'shared') continue;
    for (const o of flagOption(cmd, name)) c.addOption(o);
  }
  return c;
}

/** Help text: the options a resumed run may change. */
export function resumeHelp(): string {
  return `\nWith --resume, a run continues with the options in its run.json; only ${resumableOptions().map(flagOf).join(', ')} (and --plain) may be given, and any other option that would change the run is an error.`;
}

/** Whether a declared option was given on the command line. */
export function givenOf(c: Command): (name: keyof TrainRunOptions) => boolean {
  return (name) => c.getOptionValueSource(name) === 'cli';
}

/** The run options from commander's values (defaults from the declarations). */
export function runOptionsFromValues(values: Record<string, unknown>, given: (name: keyof TrainRunOptions) => boolean): TrainRunOptions {
  const o: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const spec = TRAIN_OPTIONS[name] as OptionSpec<unknown>;
    const v = values[name];
    switch (spec.kind.type) {
      case 'flag':
        o[name] = Boolean(v);
        break;
      case 'negated':
        // commander sets true by default for --no-x; a stage-2 switch stays null unless given
        o[name] = given(name) ? Boolean(v) : spec.default;
        break;
      case 'cache':
        o[name] = v === false ? null : typeof v === 'string' ? v : defaultCacheDir();
        break;
      default:
        o[name] = v === undefined ? structuredClone(spec.default) : v;
    }
  }
  return o as unknown as TrainRunOptions;
}
