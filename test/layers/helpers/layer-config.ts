/** Shared by the per-layer tests: rebuilding a layer from its JSON config, comparing outputs, inputs. */
import * as tf from '@tensorflow/tfjs';

/** A copy of `layer` built by its registered class from its config, passed through JSON as a saved config would be. */
export function rebuild<T extends tf.layers.Layer>(layer: T): T {
  const className = (layer.constructor as unknown as { className: string }).className;
  const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[className]!;
  return fromConfig(cls, JSON.parse(JSON.stringify(layer.getConfig()))) as unknown as T;
}

/** The largest absolute difference of two tensors. */
export async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

/** A seeded standard normal tensor. */
export const random = (shape: number[], seed: number): tf.Tensor =>
  tf.randomNormal(shape, 0, 1, 'float32', seed);
