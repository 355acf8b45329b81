# The two commands of the README, and every shipped checkpoint: `make assets/sinusoid_maml.pt`, or `make assets`.
# Each checkpoint target meta-trains with core.train, writes the model card's numbers with core.evaluate --report,
# and rewrites assets/SHA256SUMS. Every value a target uses is stated in its own line below.
PY ?= python
DEVICE ?= auto
OMNIGLOT ?= ../shared/data/omniglot/images_background_small1.zip ../shared/data/omniglot/images_background_small2.zip

.PHONY: app test screenshots assets sinusoid characters
app:  # install and start the app
	pip install -r requirements.txt && $(PY) app.py
test:  # install and run the tests (.ci/run does this after installing Chromium)
	pip install -r requirements-dev.txt && $(PY) -m pytest -q
screenshots:  # docs/*.png from the real app in Chromium
	SCREENSHOTS=docs $(PY) -m pytest -q tests/test_screenshots.py

SINUSOID = $(foreach a,maml fomaml anil reptile pretrained blackbox,assets/sinusoid_$(a).pt)
CHARACTERS = $(foreach a,maml fomaml anil,assets/omniglot_$(a).pt)
assets: sinusoid characters
sinusoid: $(SINUSOID)
characters: $(CHARACTERS)
# assets/SHA256SUMS publishes each checkpoint's sha256 a second time, beside its model card; the app checks both.
MANIFEST = $(PY) -c "from core.checkpoints import write_manifest; write_manifest('assets')"

# ---------------------------------------------------------------- sinusoid (Finn et al. 2017's setup)
# MLP 1-40-40-1, α = 0.01, Adam 1e-3, meta-batch 25, 10 query points, validation every 5,000 iterations on 200
# tasks after 10 steps.
# MAML, first-order MAML and ANIL: 70,000 iterations, 1 inner step, K = 5 support points (the paper used
# K = 10: trained at K = 10, MAML overshoots at K = 5 after 5 and 10 steps on tasks whose few support points
# sit close together; trained at K = 5 it meets the paper's K = 5 numbers and is as good at K = 10).
# Reptile: 20,000 iterations, 5 inner steps (it needs several to differ from joint training, Nichol et al.
# 2018), K = 10 (at K = 5 it was worse at both K). The pretrained baseline and the black box (which reads
# 1..10 support pairs per task): 20,000 iterations at K = 10, to fit this 2-core CPU's time.
assets/sinusoid_maml.pt assets/sinusoid_fomaml.pt assets/sinusoid_anil.pt: SINUSOID_ITERATIONS = 70000
assets/sinusoid_maml.pt assets/sinusoid_fomaml.pt assets/sinusoid_anil.pt: SUPPORT_POINTS = 5
assets/sinusoid_maml.pt assets/sinusoid_fomaml.pt assets/sinusoid_anil.pt: TRAIN_STEPS = 1
assets/sinusoid_reptile.pt: SINUSOID_ITERATIONS = 20000
assets/sinusoid_reptile.pt: SUPPORT_POINTS = 10
assets/sinusoid_reptile.pt: TRAIN_STEPS = 5
assets/sinusoid_pretrained.pt assets/sinusoid_blackbox.pt: SINUSOID_ITERATIONS = 20000
assets/sinusoid_pretrained.pt assets/sinusoid_blackbox.pt: SUPPORT_POINTS = 10
assets/sinusoid_pretrained.pt assets/sinusoid_blackbox.pt: TRAIN_STEPS = 1
assets/sinusoid_%.pt:
	$(PY) -m core.train --task sinusoid --algo $* --iterations $(SINUSOID_ITERATIONS) --support $(SUPPORT_POINTS) \
		--train-steps $(TRAIN_STEPS) --query 10 --inner-lr 0.01 --meta-lr 1e-3 --meta-batch 25 --test-steps 10 \
		--validation-tasks 200 --validate-every 5000 \
		--device $(DEVICE) --out $@ --quiet
	$(PY) -m core.evaluate --checkpoint $@ --report --json > /dev/null
	$(MANIFEST)

# ---------------------------------------------------------------- characters (Omniglot)
# Conv4 with the zero-initialised any-way head, α = 0.4, affine jitter, each training character's mirror
# image as a class of its own, 2 alphabets held out, 5-way 5-shot episodes with 5 queries per class,
# meta-batch 32, 3 inner steps in training and test, β = 1e-3 with a cosine decay, validation every 200
# iterations on 100 episodes, stopped (validated and saved) at 58 minutes. The paper ran 60,000 iterations
# of 1-step training; these fit about an hour on this 2-core CPU: MAML 800 iterations, the first 342 with
# first-order MAML's gradient (a warm start); first-order MAML 1,500; ANIL 2,400. `--resume` with the same
# arguments finishes a run the guard stopped (see docs/RESULTS.md). With a GPU: DEVICE=cuda.
assets/omniglot_maml.pt runs/omniglot_maml_validation.pt: OMNIGLOT_ITERATIONS = 800
assets/omniglot_maml.pt runs/omniglot_maml_validation.pt: WARM_START_ITERATIONS = 342
assets/omniglot_fomaml.pt runs/omniglot_fomaml_validation.pt: OMNIGLOT_ITERATIONS = 1500
assets/omniglot_fomaml.pt runs/omniglot_fomaml_validation.pt: WARM_START_ITERATIONS = 0
assets/omniglot_anil.pt runs/omniglot_anil_validation.pt: OMNIGLOT_ITERATIONS = 2400
assets/omniglot_anil.pt runs/omniglot_anil_validation.pt: WARM_START_ITERATIONS = 0
# support images per class in a training episode; alphabets held out for validation (a third for the α selection)
SUPPORT_SHOTS = 5
assets/omniglot_%.pt: VAL_ALPHABETS = 2
runs/omniglot_%_validation.pt: VAL_ALPHABETS = 3
# The character recipe without its iterations, data, device and output: bench/gpu_session.sh reads it from here
# (`make -s print-OMNIGLOT_RECIPE`), so the GPU session trains exactly this recipe.
OMNIGLOT_RECIPE = --task omniglot --ways 5 --support $(SUPPORT_SHOTS) --query 5 --meta-batch 32 --inner-lr 0.4 \
	--meta-lr 1e-3 --schedule cosine --train-steps 3 --test-steps 3 --augment --mirror-classes --validation-tasks 100
TRAIN_OMNIGLOT = $(PY) -m core.train $(OMNIGLOT_RECIPE) --algo $* --iterations $(OMNIGLOT_ITERATIONS) \
	$(if $(filter-out 0,$(WARM_START_ITERATIONS)),--first-order-iterations $(WARM_START_ITERATIONS)) \
	--val-alphabets $(VAL_ALPHABETS) --validate-every 200 --max-minutes 58 --data $(OMNIGLOT) --device $(DEVICE) --quiet

# Each report row (N-way K-shot) takes its test α from SELECT_INNER_LR, chosen where the report never looks: the
# same recipe trained with a third alphabet held out (Tagalog, which the shipped checkpoint trains on) adapts at
# each α on that alphabet's episodes, and each row takes the α it was most accurate at (core.evaluate
# --select-inner-lr). The validation run takes about as long again as the checkpoint's own.
SELECT_INNER_LR = 0.2 0.3 0.4 0.5
.PRECIOUS: runs/omniglot_%_validation.pt
assets/omniglot_%.pt: runs/omniglot_%_validation.pt
	$(TRAIN_OMNIGLOT) --out $@
	$(PY) -m core.evaluate --checkpoint $@ --select-inner-lr $(SELECT_INNER_LR) --validation-checkpoint $< \
		--data $(OMNIGLOT) > /dev/null
	$(PY) -m core.evaluate --checkpoint $@ --report --data $(OMNIGLOT) --json > /dev/null
	$(MANIFEST)
runs/omniglot_%_validation.pt:
	$(TRAIN_OMNIGLOT) --out $@

print-%:  # the value of a variable, for scripts: make -s print-OMNIGLOT_RECIPE
	@echo $($*)
