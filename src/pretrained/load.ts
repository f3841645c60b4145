/**
 * A shipped model as a ready LrdifModel (browser-safe): from the bytes of its model.safetensors
 * and card.json (Node reads them with loadPretrained in pretrained-node.ts; a page fetches them).
 * The weights are checked against the card's SHA-256 before anything is built.
 */
import { SafetensorsReader } from '../io/safetensors.js';
import { LrdifModel } from '../models/lrdif/lrdif.js';
import { loadModelWeights, readCheckpointMeta, type CheckpointMeta } from '../train/checkpoint.js';
import { sha256Hex } from '../train/encoders.js';
import { parseCard, PretrainedError, type PretrainedCard } from './models.js';

export interface LoadedPretrained {
  /** In eval mode; the caller disposes it. */
  model: LrdifModel;
  meta: CheckpointMeta;
  card: PretrainedCard;
}

/** Checks a shipped model's bytes against its card and the card against the checkpoint (reads no tensor). */
export async function checkPretrained(
  modelBytes: Uint8Array,
  cardText: string,
  where: { model: string; card: string },
): Promise<{ reader: SafetensorsReader; meta: CheckpointMeta; card: PretrainedCard }> {
  const card = parseCard(cardText, where.card);
  const sha = await sha256Hex(modelBytes);
  if (sha !== card.model.sha256)
    throw new PretrainedError(`${where.model} is damaged or not the packaged file: its sha256 is ${sha.slice(0, 12)}…, the card says ${card.model.sha256.slice(0, 12)}…`);
  const reader = SafetensorsReader.fromBytes(modelBytes, where.model);
  const meta = readCheckpointMeta(reader);
  if (meta.stage !== 2) throw new PretrainedError(`${where.model} is a stage-${meta.stage} checkpoint; a shipped model is a stage-2 one`);
  if (meta.config.variant !== card.variant || JSON.stringify(meta.classNames) !== JSON.stringify(card.classes)) {
    throw new PretrainedError(
      `${where.model} does not match ${where.card} (variant ${meta.config.variant} vs ${card.variant}; classes ${meta.classNames.join(', ')} vs ${card.classes.join(', ')})`,
    );
  }
  return { reader, meta, card };
}

/** The shipped model's LrdifModel with its weights, its checkpoint metadata and card. */
export async function loadPretrainedFromBytes(modelBytes: Uint8Array, cardText: string, where: { model: string; card: string }): Promise<LoadedPretrained> {
  const { reader, meta, card } = await checkPretrained(modelBytes, cardText, where);
  const model = new LrdifModel(meta.config, { seed: 0 });
  try {
    loadModelWeights(reader, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return { model, meta, card };
}
