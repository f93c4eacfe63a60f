/** The extension's icon. */
import { LabIcon } from '@jupyterlab/ui-components';

/** Two speech bubbles: conversations. */
export const sessionsIcon = new LabIcon({
  name: 'hermes-nb:sessions',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 3h12a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H8l-4 3v-3H3a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/>' +
    '<path d="M19 8h2a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2h-1v3l-4-3h-6a2 2 0 0 1-2-2v-1h8a3 3 0 0 0 3-3z"/>' +
    '</g></svg>'
});
