/**
 * Everything jupyter-tinyml attaches to one open notebook: the kernel link, the review bars, and the
 * handling of inserts and of the bar's buttons.
 */
import { InputDialog, Notification } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';

import { KernelLink } from './comm';
import { applyInsert, FallbackCopies } from './insert';
import { accepted, provenanceOf } from './provenance';
import {
  frontendMessages,
  IErrorMessage,
  IInsertMessage,
  METADATA_KEY
} from './protocol';
import { IReviewActions, ReviewBars } from './reviewbar';

export class TinyMLNotebook implements IReviewActions {
  readonly link: KernelLink;

  constructor(readonly panel: NotebookPanel) {
    this.link = new KernelLink(panel.sessionContext);
    this._bars = new ReviewBars(panel.content, this);
    this._fallbacks = new FallbackCopies(panel);
    this.link.inserted.connect((_, message) => this._insert(message));
    this.link.failed.connect((_, message) => this._failed(message));
    void panel.context.ready.then(() => {
      this._bars.sync();
      panel.content.model?.cells.changed.connect(this._cellsChanged, this);
    });
    panel.disposed.connect(() => this.link.dispose());
  }

  accept(cell: Cell): void {
    const provenance = provenanceOf(cell.model.metadata);
    if (provenance) {
      cell.model.setMetadata(METADATA_KEY, accepted(provenance));
      this.link.send(frontendMessages.accept([cell.model.id]));
    }
  }

  discard(cell: Cell): void {
    const shared = this.panel.content.model?.sharedModel;
    const index = this.panel.content.widgets.indexOf(cell);
    if (shared && index !== -1) {
      shared.deleteCell(index);
      this.link.send(frontendMessages.discard([cell.model.id]));
    }
  }

  async regenerate(cell: Cell): Promise<void> {
    const provenance = provenanceOf(cell.model.metadata);
    const sourceCell = provenance?.source_cell;
    if (!provenance || !sourceCell) {
      return;
    }
    const answer = await InputDialog.getText({
      title: `Regenerate: tinyml ${provenance.stage}`,
      label: 'A note for the model (optional): what to change',
      placeholder: 'e.g. use 30% for testing',
      okLabel: 'Regenerate'
    });
    if (!answer.button.accept) {
      return;
    }
    const sent = this.link.send(
      frontendMessages.regenerate(
        sourceCell,
        provenance,
        (answer.value ?? '').trim()
      )
    );
    if (!sent) {
      Notification.warning(
        'jupyter-tinyml is not loaded in this kernel: run %load_ext jupyter_tinyml first.',
        {
          autoClose: 8000
        }
      );
      return;
    }
    this._bars.barsOf(sourceCell).forEach(bar => (bar.busy = true));
  }

  private _insert(message: IInsertMessage): void {
    applyInsert(this.panel, message);
    if (message.fallback_text) {
      this._fallbacks.expect(message.fallback_text);
    }
    this._bars.sync();
  }

  private _failed(message: IErrorMessage): void {
    if (message.source_cell) {
      this._bars.barsOf(message.source_cell).forEach(bar => (bar.busy = false));
      this._bars.sync();
    }
    Notification.error(message.message, { autoClose: false });
  }

  private _cellsChanged(): void {
    // The notebook creates the cell widgets in its own handler of this signal; look after it has.
    setTimeout(() => {
      if (!this.panel.isDisposed) {
        this._fallbacks.sweep();
        this._bars.sync();
      }
    }, 0);
  }

  private readonly _bars: ReviewBars;
  private readonly _fallbacks: FallbackCopies;
}
