/**
 * The review marks of one notebook, kept in step with the cells' metadata (so they come back when a saved
 * notebook is opened again): one bar per generation (Accept all / Regenerate / Discard all) on its first
 * cell still to review, and on every such cell a small strip with its mark and its own accept / discard.
 */
import { Cell } from '@jupyterlab/cells';
import { Notebook } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { PanelLayout, Widget } from '@lumino/widgets';

import { barLabel, cellMark, checksLabel } from './labels';
import {
  generationKey,
  hasHeaderLine,
  IProvenance,
  needsReview,
  provenanceOf
} from './provenance';

/** Marks a cell still to review (left border, tinted background). */
export const UNREVIEWED_CLASS = 'jp-tinyml-unreviewed';
/** Marks a cell that was run before anyone accepted it (a stronger border, and its strip says so). */
export const RAN_UNREVIEWED_CLASS = 'jp-tinyml-ran-unreviewed';
/** Generated cells and one-cell fallback copies: their long header and check lines wrap instead of running off. */
export const WRAP_CLASS = 'jp-tinyml-wrap';

/** What the buttons do; the notebook wiring (notebook.ts) supplies them. */
export interface IReviewActions {
  /** Accept these cells (one cell, or a whole generation). */
  acceptCells(cells: Cell[]): void;
  /** Delete these cells (one cell, or a whole generation). */
  discardCells(cells: Cell[]): void;
  /** Ask the kernel again for the generation of this cell, with an optional note. */
  regenerate(cell: Cell): void;
}

/** The cells of one generation still to review, in notebook order, with the provenance of the first. */
interface IGeneration {
  key: string;
  provenance: IProvenance;
  cells: Cell[];
}

/** A button that does not let its click reach the notebook (which would select or edit the cell). */
function button(
  text: string,
  className: string,
  title: string,
  onClick: () => void
): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = `jp-tinyml-ReviewBar-button ${className}`;
  element.textContent = text;
  element.title = title;
  element.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return element;
}

/**
 * Everything review-related above one cell's input: the generation bar when the cell is its generation's
 * first cell to review, and the cell's own strip.
 */
export class ReviewStrip extends Widget {
  constructor(
    private readonly cell: Cell,
    private readonly owner: ReviewBars,
    private readonly actions: IReviewActions
  ) {
    super();
    this.addClass('jp-tinyml-Review');
    this._bar.className = 'jp-tinyml-ReviewBar';
    const row = document.createElement('div');
    row.className = 'jp-tinyml-ReviewBar-row';
    this._label.className = 'jp-tinyml-ReviewBar-label';
    this._checks.className = 'jp-tinyml-ReviewBar-checks';
    this._placed.className = 'jp-tinyml-ReviewBar-placed';
    row.append(
      this._label,
      this._checks,
      this._placed,
      button(
        'Accept all',
        'jp-tinyml-accept',
        "Mark this generation's cells as reviewed: the bar goes, the cells stay",
        () => this.actions.acceptCells(this.owner.generationOf(this.cell))
      ),
      button(
        'Regenerate',
        'jp-tinyml-regenerate',
        'Ask again (with an optional note), replacing the cells still to review',
        () => this.actions.regenerate(this.cell)
      ),
      button(
        'Discard all',
        'jp-tinyml-discard',
        "Delete this generation's cells still to review",
        () => this.actions.discardCells(this.owner.generationOf(this.cell))
      )
    );
    this._findings.className = 'jp-tinyml-ReviewBar-findings';
    this._bar.append(row, this._findings);

    const strip = document.createElement('div');
    strip.className = 'jp-tinyml-CellReview';
    this._mark.className = 'jp-tinyml-CellReview-mark';
    strip.append(
      this._mark,
      button('✓ cell', 'jp-tinyml-accept-cell', 'Accept this cell only', () =>
        this.actions.acceptCells([this.cell])
      ),
      button('✕ cell', 'jp-tinyml-discard-cell', 'Delete this cell only', () =>
        this.actions.discardCells([this.cell])
      )
    );
    this.node.append(this._bar, strip);
  }

  /** Show the cell's own state, and the generation bar when `generation` is given (first cell only). */
  setState(provenance: IProvenance, generation: IGeneration | null): void {
    this._mark.textContent = cellMark(provenance);
    this.toggleClass(
      'jp-mod-ranUnreviewed',
      provenance.status === 'ran-unreviewed'
    );
    const busy = this.owner.isBusy(generationKey(provenance));
    this.toggleClass('jp-mod-busy', busy);
    if (!generation) {
      this._bar.remove();
    } else {
      this._showGeneration(generation, busy);
    }
    this.node
      .querySelectorAll('button')
      .forEach(element => (element.disabled = busy));
  }

  private _showGeneration(generation: IGeneration, busy: boolean): void {
    if (!this._bar.isConnected) {
      this.node.prepend(this._bar);
    }
    this._label.textContent = barLabel(
      generation.provenance,
      generation.cells.length
    );
    this._checks.textContent = busy
      ? 'regenerating…'
      : checksLabel(generation.provenance);
    this._placed.textContent = this.owner.placedNote(generation.key);
    this._findings.replaceChildren(
      ...generation.provenance.checks.map(finding => {
        const item = document.createElement('li');
        item.textContent = finding;
        return item;
      })
    );
  }

  private readonly _bar = document.createElement('div');
  private readonly _label = document.createElement('span');
  private readonly _checks = document.createElement('span');
  private readonly _placed = document.createElement('span');
  private readonly _findings = document.createElement('ul');
  private readonly _mark = document.createElement('span');
}

/** Keeps the review marks of one notebook in line with its cells' metadata. */
export class ReviewBars {
  constructor(
    private readonly notebook: Notebook,
    private readonly actions: IReviewActions
  ) {}

  /** Emitted after every sync with the number of cells still to review (for the status item). */
  get changed(): ISignal<this, number> {
    return this._changed;
  }

  /** Cells still to review in this notebook. */
  get toReview(): number {
    return this._toReview;
  }

  /** Bring every cell's marks in line with its metadata. */
  sync(): void {
    const generations = this._generations();
    const first = new Map<Cell, IGeneration>();
    generations.forEach(generation =>
      first.set(generation.cells[0], generation)
    );
    let toReview = 0;
    for (const cell of this.notebook.widgets) {
      this._watch(cell);
      const provenance = provenanceOf(cell.model.metadata);
      const pending = needsReview(provenance);
      toReview += pending ? 1 : 0;
      cell.toggleClass(UNREVIEWED_CLASS, pending);
      cell.toggleClass(
        RAN_UNREVIEWED_CLASS,
        provenance?.status === 'ran-unreviewed'
      );
      cell.toggleClass(
        WRAP_CLASS,
        provenance !== null || hasHeaderLine(cell.model.sharedModel.getSource())
      );
      const strip = this._strips.get(cell);
      if (!pending || !provenance) {
        if (strip) {
          this._strips.delete(cell);
          strip.dispose();
        }
        continue;
      }
      (strip ?? this._addStrip(cell)).setState(
        provenance,
        first.get(cell) ?? null
      );
    }
    for (const key of [...this._placed.keys(), ...this._busy]) {
      if (!generations.some(generation => generation.key === key)) {
        this._placed.delete(key);
        this._busy.delete(key);
      }
    }
    this._toReview = toReview;
    this._changed.emit(toReview);
  }

  /** The cells still to review of the generation `cell` belongs to (just the cell when it has none). */
  generationOf(cell: Cell): Cell[] {
    const provenance = provenanceOf(cell.model.metadata);
    if (!provenance) {
      return [cell];
    }
    const key = generationKey(provenance);
    return (
      this._generations().find(generation => generation.key === key)?.cells ?? [
        cell
      ]
    );
  }

  /** While the kernel regenerates a generation: its buttons off, its bar says so. */
  setBusyKey(key: string, busy: boolean): void {
    if (busy) {
      this._busy.add(key);
    } else {
      this._busy.delete(key);
    }
    this.sync();
  }

  isBusy(key: string): boolean {
    return this._busy.has(key);
  }

  /** Say on a generation's bar where its cells went ("inserted after your 2 accepted cells"). */
  setPlacedNote(key: string, text: string): void {
    if (text) {
      this._placed.set(key, text);
    } else {
      this._placed.delete(key);
    }
  }

  placedNote(key: string): string {
    return this._placed.get(key) ?? '';
  }

  /** Generations with cells still to review, each with its cells in notebook order. */
  private _generations(): IGeneration[] {
    const found = new Map<string, IGeneration>();
    for (const cell of this.notebook.widgets) {
      const provenance = provenanceOf(cell.model.metadata);
      if (!provenance || !needsReview(provenance)) {
        continue;
      }
      const key = generationKey(provenance);
      const generation = found.get(key);
      if (generation) {
        generation.cells.push(cell);
      } else {
        found.set(key, { key, provenance, cells: [cell] });
      }
    }
    return [...found.values()];
  }

  private _watch(cell: Cell): void {
    if (this._watched.has(cell)) {
      return;
    }
    this._watched.add(cell);
    // Any cell's mark can move a generation's bar (accepting its first cell moves it to the next one).
    cell.model.metadataChanged.connect(() => this.sync());
    cell.disposed.connect(() => this._strips.delete(cell));
  }

  private _addStrip(cell: Cell): ReviewStrip {
    const strip = new ReviewStrip(cell, this, this.actions);
    this._strips.set(cell, strip);
    // A cell outside the viewport may not have built its DOM yet; the strip goes in once it has.
    void cell.ready.then(() => {
      if (strip.isDisposed || cell.isDisposed) {
        return;
      }
      const layout = cell.layout as PanelLayout;
      // Below the cell header (index 0), above the input.
      layout.insertWidget(Math.min(1, layout.widgets.length), strip);
    });
    return strip;
  }

  private readonly _strips = new Map<Cell, ReviewStrip>();
  private readonly _watched = new WeakSet<Cell>();
  private readonly _busy = new Set<string>();
  private readonly _placed = new Map<string, string>();
  private _toReview = 0;
  private readonly _changed = new Signal<this, number>(this);
}
