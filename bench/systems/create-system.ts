import type { BenchSystem, SystemName, TrialTarget } from './system.js';

/** The system under test; only its own module is loaded, so a trial's RSS holds no other system's code. */
export async function createSystem(name: SystemName, target: TrialTarget): Promise<BenchSystem> {
  switch (name) {
    case 'warren':
      return new (await import('./warren-system.js')).WarrenSystem(target);
    case 'amqplib':
      return new (await import('./amqplib-system.js')).AmqplibSystem(target);
    case 'bullmq':
      return new (await import('./bullmq-system.js')).BullmqSystem(target);
  }
}

/** Deletes what a trial of `name` may have left (after a crashed or killed trial). Missing things are fine. */
export async function cleanupTrial(name: SystemName, target: TrialTarget): Promise<void> {
  switch (name) {
    case 'warren':
      await (await import('./warren-system.js')).deleteWarrenTopology(target);
      return;
    case 'amqplib':
      await (await import('./amqplib-system.js')).deleteAmqplibTopology(target.amqpUrl, target.id, target.retryDelayMs);
      return;
    case 'bullmq':
      await new (await import('./bullmq-system.js')).BullmqSystem(target).destroy();
      return;
  }
}
