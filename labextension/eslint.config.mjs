// Lint the extension: eslint's and typescript-eslint's recommended rules, with
// type information for the TypeScript; formatting is prettier's (npm run lint).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/', '.core/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname
      }
    },
    rules: {
      // Lumino's namespaces (CommandIDs) are the JupyterLab idiom
      '@typescript-eslint/no-namespace': 'off',
      // Lumino connects a method with its receiver: signal.connect(this._onX, this)
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      eqeqeq: 'error',
      curly: 'error'
    }
  },
  {
    files: ['*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } }
  }
);
