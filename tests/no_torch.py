"""Run Python as if torch were not installed, to test the edge runtime:

    python tests/no_torch.py -c CODE          python tests/no_torch.py -m MODULE ARGS...

An import hook refuses `torch` and its sub-modules (ModuleNotFoundError, as for a missing
package); everything else imports as usual.
"""
import runpy
import sys


class RefuseTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused by tests/no_torch.py)", name=name)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, RefuseTorch())
    mode, target, *rest = sys.argv[1:]
    sys.argv = [target, *rest]
    if mode == "-c":
        exec(compile(target, "<no_torch>", "exec"), {"__name__": "__main__"})
    elif mode == "-m":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        raise SystemExit("usage: no_torch.py -c CODE | -m MODULE [ARGS...]")
