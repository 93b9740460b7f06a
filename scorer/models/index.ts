import type { Model, ModelName, ModelState } from '../types';
import { LstmModel } from './lstm';
import { NgramModel } from './ngram';
import { OcsvmModel } from './ocsvm';
import { RarityModel } from './rarity';

export { selectBackend } from './backend';

export function createModel(name: ModelName, options: Record<string, unknown> = {}): Model {
  switch (name) {
    case 'rarity':
      return new RarityModel(options);
    case 'ocsvm':
      return new OcsvmModel(options);
    case 'lstm':
      return new LstmModel(options);
    case 'ngram':
      return new NgramModel(options);
    default:
      throw new Error(`unknown model ${JSON.stringify(name)} (rarity, ocsvm, lstm, ngram)`);
  }
}

/** restore a model from toState(); a foreign or incompatible state is a clear error */
export function loadModel(state: ModelState): Model {
  if (!state || typeof state !== 'object' || typeof state.name !== 'string') throw new Error('model state is not an object with a model name');
  switch (state.name) {
    case 'rarity':
      return RarityModel.fromState(state);
    case 'ocsvm':
      return OcsvmModel.fromState(state);
    case 'lstm':
      return LstmModel.fromState(state);
    case 'ngram':
      return NgramModel.fromState(state);
    default:
      throw new Error(`model state names an unknown model ${JSON.stringify(state.name)}`);
  }
}
