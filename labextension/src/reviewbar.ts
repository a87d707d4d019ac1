/**
 * The review bar above each unreviewed generated cell, and the bookkeeping that keeps bars in step with
 * the metadata (so bars come back when a saved notebook is opened again).
 */
import { Cell } from '@jupyterlab/cells';
import { Notebook } from '@jupyterlab/notebook';
import { PanelLayout, Widget } from '@lumino/widgets';

import { barLabel, checksLabel } from './labels';
import { IProvenance, provenanceOf } from './provenance';

/** Marks an unreviewed cell (left border, tinted background) for as long as it stays unreviewed. */
export const UNREVIEWED_CLASS = 'jp-tinyml-unreviewed';

/** What the bar's buttons do; the notebook wiring (notebook.ts) supplies them. */
export interface IReviewActions {
  accept(cell: Cell): void;
  discard(cell: Cell): void;
  regenerate(cell: Cell): void;
}

/** Stage, model and check findings of one generated cell, with Accept / Regenerate / Discard. */
export class ReviewBar extends Widget {
  constructor(
    private readonly cell: Cell,
    private readonly actions: IReviewActions
  ) {
    super();
    this.addClass('jp-tinyml-ReviewBar');
    const row = document.createElement('div');
    row.className = 'jp-tinyml-ReviewBar-row';
    this._label.className = 'jp-tinyml-ReviewBar-label';
    this._checks.className = 'jp-tinyml-ReviewBar-checks';
    row.append(
      this._label,
      this._checks,
      this._button(
        'Accept',
        'jp-tinyml-accept',
        'Mark as reviewed: the bar goes, the cell stays',
        () => this.actions.accept(this.cell)
      ),
      this._button(
        'Regenerate',
        'jp-tinyml-regenerate',
        'Ask again (with an optional note), replacing these cells',
        () => this.actions.regenerate(this.cell)
      ),
      this._button('Discard', 'jp-tinyml-discard', 'Delete this cell', () =>
        this.actions.discard(this.cell)
      )
    );
    this._findings.className = 'jp-tinyml-ReviewBar-findings';
    this.node.append(row, this._findings);
  }

  /** Show this provenance. */
  setProvenance(provenance: IProvenance): void {
    this._label.textContent = barLabel(provenance);
    this._checks.textContent = checksLabel(provenance);
    this._findings.replaceChildren(
      ...provenance.checks.map(finding => {
        const item = document.createElement('li');
        item.textContent = finding;
        return item;
      })
    );
  }

  /** While the kernel regenerates: buttons off, label says so. */
  set busy(value: boolean) {
    this.toggleClass('jp-mod-busy', value);
    this.node
      .querySelectorAll('button')
      .forEach(button => (button.disabled = value));
    if (value) {
      this._checks.textContent = 'regenerating…';
    }
  }

  private _button(
    text: string,
    className: string,
    title: string,
    onClick: () => void
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `jp-tinyml-ReviewBar-button ${className}`;
    button.textContent = text;
    button.title = title;
    button.addEventListener('click', event => {
      event.stopPropagation();
      onClick();
    });
    return button;
  }

  private readonly _label = document.createElement('span');
  private readonly _checks = document.createElement('span');
  private readonly _findings = document.createElement('ul');
}

/** Keeps a bar on every unreviewed generated cell of one notebook, and none elsewhere. */
export class ReviewBars {
  constructor(
    private readonly notebook: Notebook,
    private readonly actions: IReviewActions
  ) {}

  /** Bring every cell's bar in line with its metadata. */
  sync(): void {
    for (const cell of this.notebook.widgets) {
      this.syncCell(cell);
    }
  }

  /** The bars of the cells a magic produced (for the busy state while it regenerates). */
  barsOf(sourceCell: string): ReviewBar[] {
    return this.notebook.widgets
      .filter(
        cell => provenanceOf(cell.model.metadata)?.source_cell === sourceCell
      )
      .map(cell => this._bars.get(cell))
      .filter((bar): bar is ReviewBar => bar !== undefined);
  }

  private syncCell(cell: Cell): void {
    if (!this._watched.has(cell)) {
      this._watched.add(cell);
      cell.model.metadataChanged.connect(() => this.syncCell(cell));
      cell.disposed.connect(() => this._bars.delete(cell));
    }
    const provenance = provenanceOf(cell.model.metadata);
    const unreviewed = provenance?.status === 'unreviewed';
    cell.toggleClass(UNREVIEWED_CLASS, unreviewed);
    const bar = this._bars.get(cell);
    if (!unreviewed || !provenance) {
      if (bar) {
        this._bars.delete(cell);
        bar.dispose();
      }
      return;
    }
    if (bar) {
      bar.setProvenance(provenance);
      return;
    }
    const created = new ReviewBar(cell, this.actions);
    created.setProvenance(provenance);
    this._bars.set(cell, created);
    // A cell outside the viewport may not have built its DOM yet; the bar goes in once it has.
    void cell.ready.then(() => {
      if (created.isDisposed || cell.isDisposed) {
        return;
      }
      const layout = cell.layout as PanelLayout;
      // Below the cell header (index 0), above the input.
      layout.insertWidget(Math.min(1, layout.widgets.length), created);
    });
  }

  private readonly _bars = new Map<Cell, ReviewBar>();
  private readonly _watched = new WeakSet<Cell>();
}
