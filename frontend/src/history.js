// Undo/redo stacks of actions {undo(), redo()}; a new action clears the redo stack.
export class History {
  constructor(onChange = () => {}) {
    this.done = [];
    this.undone = [];
    this.onChange = onChange;
  }

  push(action) {
    this.done.push(action);
    this.undone = [];
    this.onChange();
  }

  undo() {
    const action = this.done.pop();
    if (!action) return false;
    this.undone.push(action);
    action.undo();
    this.onChange();
    return true;
  }

  redo() {
    const action = this.undone.pop();
    if (!action) return false;
    this.done.push(action);
    action.redo();
    this.onChange();
    return true;
  }

  clear() {
    this.done = [];
    this.undone = [];
    this.onChange();
  }
}
