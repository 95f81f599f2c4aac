import subprocess
import sys

# A fresh interpreter: the test process has imported Avalanche (and perhaps JAX) already.
IMPORT_THEN_CHECK = """
import sys
from clbench.quiet import importing_avalanche
with importing_avalanche():
    import avalanche.training
import qpsolvers
print("jax imported with avalanche:", "jax" in sys.modules)
print("quadprog available:", "quadprog" in qpsolvers.available_solvers)
import jax.numpy
print("jax importable afterwards:", jax.numpy.zeros(2).shape == (2,))
"""


def test_avalanche_is_imported_without_jax_which_stays_importable():
    done = subprocess.run([sys.executable, "-c", IMPORT_THEN_CHECK], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["jax imported with avalanche: False", "quadprog available: True",
                                        "jax importable afterwards: True"]
