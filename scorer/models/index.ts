import type { Model, ModelName, ModelState } from '../types';
import type * as Lstm from './lstm';
import { NgramModel } from './ngram';
import { OcsvmModel } from './ocsvm';
import { RarityModel } from './rarity';

export { selectBackend } from './backend';

// The LSTM's module loads TensorFlow.js (about 0.12 s of CPU, see backend.ts's tfjs()), so it is
// loaded here on the first LSTM built or restored, not by every process that imports the models.
function lstm(): typeof Lstm {
  return require('./lstm') as typeof Lstm;
}

export function createModel(name: ModelName, options: Record<string, unknown> = {}): Model {
  switch (name) {
    case 'rarity':
      return new RarityModel(options);
    case 'ocsvm':
      return new OcsvmModel(options);
    case 'lstm':
      return new (lstm().LstmModel)(options);
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
      return lstm().LstmModel.fromState(state);
    case 'ngram':
      return NgramModel.fromState(state);
    default:
      throw new Error(`model state names an unknown model ${JSON.stringify(state.name)}`);
  }
}
