import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Exact matches: a plain `warren` key would also rewrite `warren/testing` (or `warren/ui`) to a path under src/index.ts.
const alias = [
  { find: /^warren\/testing$/, replacement: fileURLToPath(new URL('./src/testing/index.ts', import.meta.url)) },
  { find: /^warren\/ui$/, replacement: fileURLToPath(new URL('./src/ui/index.ts', import.meta.url)) },
  { find: /^warren$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
];

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'main',
          include: [
            'handlers/**/*.test.ts',
            'test/unit/**/*.test.ts',
            'test/integration/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: {
          // Breaks every connection on the shared broker: runs after everything else, alone.
          name: 'shared-broker-chaos',
          include: ['test/chaos/shared-*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 30_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        resolve: { alias },
        test: {
          // Faults on a RabbitMQ node of each test's own (test/helpers/private-broker.ts): the shared broker is
          // untouched, so these run alongside the main project. Booting a node takes ~5 s (3.10 or 4.0).
          name: 'private-broker-chaos',
          include: ['test/chaos/private-*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 90_000,
          sequence: { groupOrder: 0 },
        },
      },
    ],
  },
});
