/**
 * The status bar item: which model writes the code (or "offline recipes"), for which board, and how many
 * cells of the current notebook are still to review.
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
    this.setStatus(null, 0);
  }

  setStatus(status: IStatusMessage | null, toReview: number): void {
    this.node.textContent = status ? statusText(status, toReview) : '';
    this.setHidden(status === null);
  }
}
