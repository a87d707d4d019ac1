/**
 * jupyter-tinyml for JupyterLab: generated cells arrive below the magic with a review bar, and a status
 * item shows the model and the board. Each notebook gets a TinyMLNotebook (notebook.ts).
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
      item.setStatus(
        current ? (notebooks.get(current)?.link.status ?? null) : null
      );
    };
    tracker.widgetAdded.connect((_, panel) => {
      const notebook = new TinyMLNotebook(panel);
      notebooks.set(panel, notebook);
      notebook.link.statusChanged.connect(() => {
        if (tracker.currentWidget === panel) {
          showCurrent();
        }
      });
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
