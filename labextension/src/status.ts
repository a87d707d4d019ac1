/**
 * The status bar item: which model writes the code (or "offline recipes") and for which board.
 */
import { Widget } from '@lumino/widgets';

import { statusText } from './labels';
import { IStatusMessage } from './protocol';

/** Shows the current notebook's tinyml settings; hidden while that notebook has no kernel side loaded. */
export class StatusItem extends Widget {
  constructor() {
    super();
    this.addClass('jp-tinyml-StatusItem');
    this.node.title =
      'jupyter-tinyml: change with %tinyml config model=... board=...';
    this.setStatus(null);
  }

  setStatus(status: IStatusMessage | null): void {
    this.node.textContent = status ? statusText(status) : '';
    this.setHidden(status === null);
  }
}
