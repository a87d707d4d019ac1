/**
 * jupyter-tinyml for JupyterLab and Notebook 7: generated cells arrive below the magic with a review bar
 * per generation, and (where the application has a status bar: JupyterLab, not Notebook 7) a status item
 * shows the model, the board and the cells still to review. Each notebook gets a TinyMLNotebook
 * (notebook.ts).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';

import { TinyMLNotebook } from './notebook';
import { StatusItem } from './status';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-tinyml:plugin',
  description:
    'Inserts cells written by jupyter-tinyml below the magic, with a review bar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar],
  activate: (
    _app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null
  ) => {
    const notebooks = new WeakMap<NotebookPanel, TinyMLNotebook>();
    const item = new StatusItem();
    const showCurrent = () => {
      const current = tracker.currentWidget;
      const notebook = current ? notebooks.get(current) : undefined;
      item.setStatus(
        notebook?.link.status ?? null,
        notebook?.bars.toReview ?? 0
      );
    };
    tracker.widgetAdded.connect((_, panel) => {
      const notebook = new TinyMLNotebook(panel);
      notebooks.set(panel, notebook);
      const showIfCurrent = () => {
        if (tracker.currentWidget === panel) {
          showCurrent();
        }
      };
      notebook.link.statusChanged.connect(showIfCurrent);
      notebook.bars.changed.connect(showIfCurrent);
    });
    tracker.currentChanged.connect(showCurrent);
    statusBar?.registerStatusItem('jupyter-tinyml:status', {
      item,
      align: 'left',
      rank: 5
    });
  }
};

export default plugin;
