"""A training script written against Azure ML's v1 Run API, as a user brings it to runyard
(issue 15, acceptance 1 and 2): it must run unmodified under runyard, locally and on a
pool, and, with plain python3 outside runyard, run through printing what it would log.

tests/e2e/test_run_api.py checks every value below in `runyard metrics/show/list`; keep
the two in step (EXPECTED in the test).
"""
from azureml.core import Run

try:  # the only optional part: an environment without matplotlib logs no image
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

LOSSES = [0.9, 0.55, 0.31, 0.27, 0.2]
FOLD_ACCURACY = [0.81, 0.79, 0.84, 0.8, 0.83, 0.78, 0.85, 0.82, 0.8, 0.86]

run = Run.get_context()
print("context:", type(run).__name__, run.id, flush=True)

# log with keyword arguments, a number and a string value, an int and a bool.
run.log(name="learning_rate", value=0.01, description="optimizer step size")
run.log("optimizer", "adam")
run.log("epochs", len(LOSSES))
run.log("early_stopping", True)
# A series from repeated log (with steps).
for epoch, loss in enumerate(LOSSES):
    run.log("loss", loss, step=epoch)
run.log_list("fold_accuracy", FOLD_ACCURACY, description="accuracy per fold")
run.log_row("per_class", label="cat", precision=0.9, recall=0.75)
run.log_row("per_class", label="dog", precision=0.8, recall=0.85)

if plt is not None:
    plt.figure(figsize=(3, 2))
    plt.plot(range(len(LOSSES)), LOSSES)
    plt.title("loss")
    run.log_image("loss_curve", plot=plt)
    plt.close()

with open("report.txt", "w") as f:
    f.write("best loss %s\n" % min(LOSSES))
run.upload_file("outputs/report.txt", "report.txt")

children = run.create_children(count=3)
for index, child in enumerate(children):
    child.log("fold_score", 0.7 + index / 10)
    child.log("fold", index)
    child.complete()

run.tag("stage", "acceptance")
run.tag("quick")
run.add_properties({"dataset": "synthetic-v1", "seed": "7"})
run.flush()
print("logged everything; children:", " ".join(child.id for child in children), flush=True)
run.complete()
