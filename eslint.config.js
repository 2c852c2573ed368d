import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Everything .gitignore leaves out (build output, caches, scratch) is not linted either.
  { ignores: ['dist/**', 'docs/**', 'node_modules/**', 'coverage/**', '.cache/**', 'bench/out/**', 'examples/web/dist/**', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // tfjs APIs are loosely typed in places (LayerArgs, kwargs); allow `any` where tfjs forces it.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
