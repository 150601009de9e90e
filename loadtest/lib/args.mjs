// The flag loop the bench's two parsers share: each argument in turn, with a `next()` that
// takes the flag's value or says which flag lacks one.

/** Calls `handle(flag, next)` for each argument; `next()` consumes and returns the following one. */
export function eachArg(argv, handle) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    handle(a, () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    });
  }
}
