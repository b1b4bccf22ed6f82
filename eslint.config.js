// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers of `src/`, lowest first. A folder may import its own files and the folders of lower layers, never a
 * folder of its own layer or above: dependencies point one way (shared/HOUSE_STYLE.md's layout). `index.ts` is the
 * public API and may import anything; nothing imports `testing/`.
 */
const LAYERS = [
  ['errors'],
  ['config'],
  ['messages', 'topology', 'metrics', 'dedup'],
  ['registry', 'connection'],
  ['retry', 'redis', 'logging', 'middleware', 'tracing'],
  ['publisher', 'scheduler', 'dlq'],
  ['consumer'],
  ['client', 'worker'],
  ['ui'],
  ['cli', 'testing'],
];

/** Modules that decide and must not do I/O: no broker, Redis, network, file system or process access. */
const PURE = [
  'src/topology/names.ts',
  'src/topology/topology-plan.ts',
  'src/retry/decide.ts',
  'src/messages/**',
  'src/consumer/verdict.ts',
  'src/consumer/suspect-gate.ts',
  'src/consumer/verdict-copy.ts',
  'src/publisher/publish-options-problem.ts',
  'src/dlq/dead-letter-replay-outcome.ts',
  'src/tracing/trace-attributes.ts',
  'src/tracing/trace-headers.ts',
  'src/ui/html.ts',
  'src/ui/request-checks.ts',
  'src/ui/overview-data.ts',
  'src/ui/dead-letter-list.ts',
  'src/ui/dead-letter-detail.ts',
  'src/ui/pages/**',
];
const IO_MODULES = [
  'amqplib',
  'amqp-connection-manager',
  'ioredis',
  'node:net',
  'node:http',
  'node:fs',
  'node:fs/promises',
  'node:child_process',
  'node:process',
];

const layerRules = LAYERS.flatMap((layer, rank) =>
  layer.map((folder) => {
    const above = LAYERS.slice(rank)
      .flat()
      .filter((other) => other !== folder);
    return {
      files: [`src/${folder}/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^\\.\\./(${above.join('|')})/`,
                message: `src/${folder} is below that folder: imports point down the layers listed in eslint.config.js.`,
              },
              { regex: '(^|/)testing(/|$)', message: 'Nothing in src/ imports the test helpers.' },
              { regex: '^\\.\\./index\\.js$', message: 'Import the module itself, not the public entry.' },
            ],
          },
        ],
      },
    };
  }),
);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/', 'bench/.build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An async function without await still returns a promise, which is often the point (fakes, interfaces).
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      // Forwarding what was caught (unknown) is not inventing a non-Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Export names explicitly (no export * of internals).' },
        { selector: 'ExportDefaultDeclaration', message: 'No default exports.' },
      ],
    },
  },
  ...layerRules,
  {
    files: PURE,
    rules: {
      // The typescript-eslint copy of the rule, so that it applies on top of the layer rule instead of replacing it.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: IO_MODULES.map((name) => ({ name, message: 'A pure module does no I/O.', allowTypeImports: true })),
          patterns: [
            {
              regex: '^(\\.\\./)+(connection|redis|publisher|consumer|dlq|scheduler|client|worker|cli)/',
              message: 'A pure module does no I/O: it may import types from these folders, nothing else.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON and broker messages whose shapes they assert on; `any` from them is checked by the assertions.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      'no-restricted-syntax': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // Configuration files of the tools must export a default.
    files: ['eslint.config.js', 'vitest.config.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
