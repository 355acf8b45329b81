"""The message catalogue: every string a person sees, by key, so code compares keys and never display text.

`text(key, **fields)` formats the message in a language; English is the only column for now, and
Korean will be a second one. Static labels are read from here as the page is built; backend text
(status lines, errors, plot titles, checkpoint descriptions) is read when it is written.
`Problem` is a person's mistake as a key and its fields: raised anywhere in `demo`, the error
boundary (`demo.errors`) shows it as that message.
"""
from __future__ import annotations

LANGUAGES = ("en",)
DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- the page
    "app.title": {"en": "MAML Playground"},
    "app.header": {"en": "<span class='app-title'>MAML Playground</span> Meta-learning with real computation: a "
                         "meta-learned **θ** adapts to each task's **φᵢ** in a few gradient steps (Finn et al., 2017)."},
    "app.presentation": {"en": "Presentation mode: larger plot text and lines"},
    "tab.sinusoid": {"en": "Sinusoid"},
    "tab.characters": {"en": "Characters"},
    # ---------------------------------------------------------------- shared controls
    "control.algorithm": {"en": "Algorithm"},
    "control.adapt": {"en": "Adapt"},
    "control.pause": {"en": "Pause"},
    "control.resume": {"en": "Resume"},
    "control.step": {"en": "Step"},
    "control.stop": {"en": "Stop"},
    "algorithm.maml": {"en": "MAML"},
    "algorithm.fomaml": {"en": "First-order MAML"},
    "algorithm.anil": {"en": "ANIL"},
    "algorithm.reptile": {"en": "Reptile"},
    "algorithm.pretrained": {"en": "Pretrained baseline"},
    "algorithm.blackbox": {"en": "Black box (transformer)"},
    "badge.step_time": {"en": "{device} · {milliseconds:.2f} ms per inner step"},
    # ---------------------------------------------------------------- the Sinusoid tab
    "sinusoid.intro": {"en": r"""
### Few-shot regression: θ adapts to a task in a few gradient steps
Each task is a curve; the model sees only **K support points** of it. Starting from the meta-learned
initialisation $\theta$, the inner loop takes gradient steps on the support loss,
$$\phi_{k+1} = \phi_k - \alpha \nabla_{\phi} \mathcal{L}_{\text{support}}(\phi_k), \qquad \phi_0 = \theta,$$
and the query loss measures how well $\phi_k$ fits the rest of the curve. MAML chose $\theta$ so that
*this* loop works after one step (Finn et al., 2017): amplitudes 0.1–5, phases 0–π, x in [−5, 5].

MAML은 여러 태스크에서 빠르게 적응할 수 있는 초기값 θ를 학습합니다. 각 태스크는 support set에서
몇 번의 경사 하강으로 θ를 φᵢ로 바꾸고, 그 결과를 query set으로 평가합니다.
"""},
    "sinusoid.source.label": {"en": "Support set"},
    "source.sine": {"en": "Sine wave"},
    "source.draw": {"en": "Draw a curve"},
    "source.click": {"en": "Click points"},
    "sinusoid.amplitude.label": {"en": "Amplitude A"},
    "sinusoid.amplitude.info": {"en": "Trained on 0.1–5."},
    "sinusoid.phase.label": {"en": "Phase b"},
    "sinusoid.phase.info": {"en": "Trained on 0–π (3.14)."},
    "sinusoid.canvas.label": {"en": "Draw a curve from left to right (any shape)"},
    "sinusoid.click.label": {"en": "Click to add a point; click a point to remove it"},
    "sinusoid.points.label": {"en": "Points"},
    "sinusoid.clear_points": {"en": "Clear points"},
    "sinusoid.clear_drawing": {"en": "Clear the curve (keep the grid)"},
    "sinusoid.canvas.hint": {"en": "Draw a curve left to right, any shape (the brush is chosen)."},
    "sinusoid.curves.empty": {"en": "press Adapt to watch f(x; φ_k) fit the support set"},
    "sinusoid.about": {"en": "About this tab"},
    "sinusoid.details": {"en": "**Support set**: a sine wave y = A·sin(x − b) from the sliders, a curve you draw, or "
                               "points you click. **K**: how many points the model may see (click mode uses all "
                               "clicked points); the seed says where they fall. **Delay**: slows the stream; a pause "
                               "over {seconds:.0f} s ends the run. After a run, the replay slider shows any step again "
                               "without recomputing (drag it, type a step and press Enter, or use the arrow keys)."},
    "sinusoid.shots.label": {"en": "K (support points)"},
    "sinusoid.inner_lr.label": {"en": "α (inner learning rate)"},
    "sinusoid.steps.label": {"en": "Inner steps S"},
    "sinusoid.delay.label": {"en": "Delay per step (s)"},
    "sinusoid.seed.label": {"en": "Seed"},
    "sinusoid.replay.label": {"en": "Replay: inner step k"},
    "sinusoid.replay.info": {"en": "After a run, drag to see any step again (no recomputation)."},
    "sinusoid.curves.label": {"en": "f(x; φ_k)"},
    "sinusoid.losses.label": {"en": "losses"},
    "sinusoid.path.label": {"en": "path"},
    "sinusoid.step_status": {"en": "Step {step} of {steps}."},
    "sinusoid.done": {"en": "Done: {steps} step(s). Drag the slider to replay."},
    "sinusoid.blackbox": {"en": "The black box predicts in one forward pass: no inner steps."},
    "sinusoid.replay_first": {"en": "run Adapt first; the slider replays a finished run"},
    "sinusoid.click_on_plot": {"en": "click on the plot to add a point"},
    "sinusoid.unknown_source": {"en": "unknown support source {value}; choose one of {choices}"},
    "sinusoid.subject": {"en": "this task"},
    "figure.step": {"en": "step {step}: support loss {support:.3f}"},
    "figure.step_query": {"en": "step {step}: support loss {support:.3f}, query loss {query:.3f}"},
    "figure.true_curve": {"en": "true curve"},
    "figure.theta_curve": {"en": "f(x; θ)"},
    "figure.phi_curve": {"en": "f(x; φ_{step})"},
    "figure.support": {"en": "support"},
    "figure.support_loss": {"en": "support loss"},
    "figure.query_loss": {"en": "query loss"},
    "figure.loss_title": {"en": "loss per inner step"},
    "figure.inner_step": {"en": "inner step k"},
    "figure.loss": {"en": "loss"},
    "figure.path_title": {"en": "path in parameter space (PCA plane)"},
    "figure.log_loss": {"en": "log₁₀ loss"},
    "figure.meta_path_title": {"en": "{algorithm}'s θ over meta-training (PCA plane)"},
    "figure.meta_loss_surface": {"en": "meta-loss"},
    "figure.accuracy_title": {"en": "accuracy on episodes of held-out alphabets, after the inner steps"},
    "figure.accuracy": {"en": "accuracy"},
    "figure.pc1": {"en": "PC1 ({percent:.0f}% of the path)"},
    "figure.pc2": {"en": "PC2 ({percent:.0f}%)"},
    "figure.before": {"en": "θ (before)"},
    "figure.phi_k": {"en": "φ_{step}"},
    "figure.query_title": {"en": "query: {name} ({probability:.0%})"},
    "figure.probability": {"en": "probability"},
    "figure.distance_title": {"en": "‖φ_{step} − θ‖ per layer"},
    "figure.distance": {"en": "distance"},
    "figure.total": {"en": "total"},
    "figure.alpha_value": {"en": "α = {lr:g}"},
    "figure.milliseconds": {"en": "ms"},
    "figure.kib": {"en": "KiB"},
    "figure.cosine": {"en": "cosine"},
    "figure.cosine_title": {"en": "cosine to second-order MAML's meta-gradient"},
    "figure.plane_title": {"en": "the meta-gradients on the plane of g_MAML and g_FO"},
    "figure.time_title": {"en": "time per meta-gradient"},
    "figure.memory_title": {"en": "peak memory"},
    "figure.slope": {"en": "{name} ({slope:.1f} KiB/step)"},
    "figure.inner_steps": {"en": "inner steps S"},
    "figure.nodes": {"en": "autograd nodes"},
    "figure.saved": {"en": "saved tensors (KiB)"},
    "figure.with_graph": {"en": "create_graph=True"},
    "figure.without_graph": {"en": "create_graph=False"},
    "figure.graph_title": {"en": "what one task's graph keeps at S = {steps}"},
    "figure.agreement_title": {"en": "when is first order good enough? cos(g_MAML, g_FO)"},
    "figure.task": {"en": "task {number}"},
    "figure.effect_title": {"en": "One meta-step θ′ = θ − β·g per method: f(x; θ′), then f(x; φ′) after S steps"},
    "figure.effect_before": {"en": "task {number}: f(x; θ′) before adapting"},
    "figure.effect_after": {"en": "task {number}: f(x; φ′) after S steps"},
    "method.theta": {"en": "θ (no meta-step)"},
    "method.imaml": {"en": "iMAML"},
    "figure.by_iteration": {"en": "meta-loss (mean of {window} iterations) against iterations"},
    "figure.by_time": {"en": "against wall time"},
    "figure.iteration": {"en": "meta-iteration"},
    "figure.seconds": {"en": "seconds"},
    "figure.meta_loss": {"en": "meta-loss"},
    "figure.phi_after": {"en": "f(x; φ) after the inner steps"},
    "figure.validation_title": {"en": "{algorithm}'s θ after {iteration} iterations, on fixed validation tasks"},
    # ---------------------------------------------------------------- the Meta-train tab
    "tab.metatrain": {"en": "Meta-train"},
    "metatrain.intro": {"en": "### Meta-train θ here, from scratch\nThe outer loop itself: each iteration samples a "
                              "batch of sinusoid tasks, adapts to each, and moves θ by Adam on the meta-gradient. "
                              "Train one algorithm, or two side by side on the same seed and the same tasks, and "
                              "compare their meta-loss per iteration and per second."},
    "metatrain.first.label": {"en": "Algorithm"},
    "metatrain.second.label": {"en": "Side by side with"},
    "metatrain.second.info": {"en": "The same initial θ and the same task batches."},
    "metatrain.none": {"en": "nothing (one algorithm)"},
    "metatrain.meta_batch.label": {"en": "Meta-batch"},
    "metatrain.inner_lr.label": {"en": "α (inner learning rate)"},
    "metatrain.meta_lr.label": {"en": "β (Adam's learning rate)"},
    "metatrain.steps.label": {"en": "Inner steps S"},
    "metatrain.iterations.label": {"en": "Meta-iterations"},
    "metatrain.seed.label": {"en": "Seed"},
    "metatrain.caps": {"en": "Caps: at most 2,000 meta-iterations, 25 tasks per batch, 5 inner steps, and {seconds:.0f} s "
                             "per run; the page updates every 25 iterations."},
    "metatrain.task.label": {"en": "Tasks"},
    "metatrain.task.sinusoid": {"en": "Sinusoid (MLP)"},
    "metatrain.task.omniglot": {"en": "Omniglot characters (Conv4)"},
    "metatrain.characters_cuda": {"en": "Sinusoid only here: meta-training Conv4 on characters needs a CUDA device "
                                        "(this server: {device})."},
    "metatrain.characters_caps": {"en": "Characters: Conv4 on {ways}-way {support}-shot Omniglot episodes of the "
                                        "background alphabets, α = {inner_lr}, with {choices}; at most {meta_batch} "
                                        "episodes per batch and {steps} inner steps. The plots show the held-out "
                                        "alphabets' accuracy."},
    "metatrain.characters_algorithms": {"en": "{algorithm} is not offered for characters in the page (second order "
                                              "through Conv4 is the costly case): choose {choices}"},
    "metatrain.train": {"en": "Meta-train"},
    "metatrain.use": {"en": "Use this θ"},
    "metatrain.losses.label": {"en": "meta-loss"},
    "metatrain.tasks.label": {"en": "validation tasks"},
    "metatrain.plane.label": {"en": "the outer loop's path"},
    "metatrain.losses.empty": {"en": "press Meta-train: the meta-loss appears every 25 iterations"},
    "metatrain.about": {"en": "About this tab"},
    "metatrain.progress": {"en": "{bar} Iteration {done:,} of {total:,} · {rate:.1f} it/s · ETA {eta:.0f} s · on {device}."},
    "metatrain.done": {"en": "Done."},
    "metatrain.stopped": {"en": "Stopped at iteration {iterations:,}; what was learned is kept."},
    "metatrain.time_limit": {"en": "The run reached its time limit of {seconds:.0f} s at iteration {iterations:,}; "
                                   "what was learned is kept."},
    "metatrain.need_one": {"en": "choose an algorithm to train"},
    "metatrain.nothing_yet": {"en": "meta-train first: there is no θ of yours yet"},
    "metatrain.carried": {"en": "Your {algorithm} θ ({iterations:,} iterations) is now offered as \"My meta-trained θ\" "
                                "in the Sinusoid and Full vs first-order tabs."},
    "theta.trained": {"en": "My meta-trained θ"},
    "algorithm.trained": {"en": "My meta-trained θ"},
    "gradients.no_trained": {"en": "meta-train a θ first (the Meta-train tab, then Use this θ)"},
    "trained.sinusoid_not_omniglot": {"en": "your meta-trained θ is a sinusoid model: use it with sinusoid tasks"},
    "trained.omniglot_not_sinusoid": {"en": "your meta-trained θ is a Conv4 for characters: use it with character "
                                            "episodes in \"Full vs first-order\""},
    # ---------------------------------------------------------------- the "Full vs first-order" tab
    "tab.gradients": {"en": "Full vs first-order"},
    "gradients.intro": {"en": r"""
### The outer loop: MAML's meta-gradient and its cheaper relatives, measured here
Second-order MAML differentiates through the inner loop, $\nabla_\theta \mathcal{L}_{\text{query}}(\phi(\theta))$
with $d\phi/d\theta = \prod_k (I - \alpha H_k)$, so autograd must keep every inner step's graph
(`create_graph=True`). First-order MAML takes $d\phi/d\theta \approx I$; ANIL adapts only the head;
Reptile uses $\theta - \phi$; iMAML solves $(I + H/\lambda)\,v = \nabla\mathcal{L}_{\text{query}}(\phi)$ at a
proximally regularised $\phi$ (Rajeswaran et al., 2019). All five below come from the same θ and the same tasks.
"""},
    "gradients.batch.label": {"en": "Tasks"},
    "gradients.batch.info": {"en": "Fresh sinusoid tasks, your own task from the Sinusoid tab, Omniglot episodes of "
                                   "alphabets the checkpoints never saw, or the characters you drew."},
    "batch.omniglot": {"en": "Sampled Omniglot episodes"},
    "gradients.sampled_episodes": {"en": "{count} sampled {ways}-way {shots}-shot Omniglot episode(s), {queries} "
                                         "queries per class, from the evaluation alphabets."},
    "batch.sampled": {"en": "Sampled sinusoid tasks"},
    "batch.mine": {"en": "My Sinusoid-tab task"},
    "batch.episode": {"en": "My drawn characters"},
    "gradients.theta.label": {"en": "θ"},
    "theta.shipped": {"en": "Shipped MAML checkpoint"},
    "theta.random": {"en": "Random initialisation"},
    "gradients.steps.label": {"en": "Inner steps S"},
    "gradients.inner_lr.label": {"en": "α (inner learning rate)"},
    "gradients.inner_lr.info": {"en": "The checkpoints meta-trained with 0.01 (sinusoid) and 0.4 (characters)."},
    "gradients.tasks.label": {"en": "Meta-batch (sampled tasks)"},
    "gradients.meta_lr.label": {"en": "β (one meta-step)"},
    "gradients.meta_lr.info": {"en": "θ′ = θ − β·g for each method, then S inner steps from θ′."},
    "gradients.sweep.label": {"en": "Cost sweep up to S"},
    "gradients.sweep.info": {"en": "Time and memory at S = 1 … this (at most 5 for characters)."},
    "gradients.seed.label": {"en": "Seed"},
    "gradients.compare": {"en": "Compare"},
    "gradients.cosines.empty": {"en": "press Compare: five meta-gradients from one θ and one batch"},
    "gradients.about": {"en": "About this tab"},
    "gradients.caps": {"en": "Caps: S ≤ {steps}; {tasks} sinusoid tasks or {episodes} sampled episodes per batch; the cost "
                             "sweep to S = {sweep} ({episode_sweep} for characters). At the caps a comparison takes about "
                             "20 s on a 2-core CPU."},
    "gradients.cosines.label": {"en": "direction"},
    "gradients.plane.label": {"en": "the angle"},
    "gradients.effect.label": {"en": "effect of one meta-step"},
    "gradients.cost.label": {"en": "cost against S"},
    "gradients.graph.label": {"en": "what create_graph keeps"},
    "gradients.agreement.label": {"en": "first order against S and α"},
    "gradients.graph_note": {"en": "Autograd frees each step's graph once its gradient is taken; `create_graph=True` keeps it, "
                                   "so that the gradient can itself be differentiated. That is what second order needs, "
                                   "and why memory grows with S: the default is `False` because most gradients are used once."},
    "gradients.no_task": {"en": "run Adapt in the Sinusoid tab first: this uses the task of your last run there"},
    "gradients.no_episode": {"en": "add at least one drawn example of two classes or more in the Characters tab first"},
    "gradients.click_task": {"en": "Your task has no query set (clicked points): its support points serve as the query too."},
    "gradients.episode_note": {"en": "Your {ways}-way episode: {note}"},
    "gradients.episode_split": {"en": "the last example of each class is its query, the rest its support."},
    "gradients.episode_same": {"en": "with one example per class, the support set serves as the query too."},
    "gradients.working": {"en": "Directions, sizes and one meta-step done ({seconds:.1f} s); measuring the cost at S = 1 … {steps} …"},
    "gradients.done": {"en": "Done on {device} in {seconds:.1f} s (cost sweep {sweep:.1f} s)."},
    "gradients.table_head": {"en": "| method | ‖g‖ | cos to MAML | ‖g − g_MAML‖ | query loss after θ′ | ms | peak KiB |\n| --- | --- | --- | --- | --- | --- | --- |"},
    "gradients.table_row": {"en": "| {method} | {norm:.4g} | {cosine} | {difference:.4g} | {loss:.4f} | {ms:.1f} | {kib:.0f} |"},
    "gradients.no_cosine": {"en": "– (g = 0)"},
    "gradients.theta_row": {"en": "| {method} | | | | {loss:.4f} | | |"},
    "gradients.best_step": {"en": "On these tasks, {method}'s meta-step helped most: the query loss after adapting from "
                                  "its θ′ is {loss:.4f}, against {theta_loss:.4f} from θ."},
    "gradients.no_step_helped": {"en": "On these tasks no meta-step helped at this β: every θ′ adapts to a query loss "
                                       "above θ's {theta_loss:.4f}. Try a smaller β."},
    "gradients.decomposition": {"en": "**S = 1:** g_MAML = g_FO − α·H·g_FO, the Hessian-vector product taken on its own: the two sides "
                                      "differ by at most {gap:.1e} (largest entry {scale:.3g}); the dropped term α·H·g_FO has norm {term:.4g}."},
    "gradients.decomposition_only_one": {"en": "The decomposition g_MAML = g_FO − α·H·g_FO is shown at S = 1."},
    "gradients.graph_numbers": {"en": "At S = {steps}, one task's graph: {with_nodes:,} nodes and {with_kib:,.0f} KiB of saved "
                                      "tensors with `create_graph=True`, {without_nodes:,} nodes and {without_kib:,.0f} KiB without."},

    "hint.inner_lr": {"en": "{algorithm} meta-trained with α = {lr:g}."},
    "hint.inner_lr.none": {"en": "The step size of each inner step."},
    "hint.steps": {"en": "{algorithm}: trained with {steps}, tested with {test_steps}."},
    "hint.steps.none": {"en": "Gradient steps on the support set."},
    "hint.steps.blackbox": {"en": "A black box takes no gradient steps: it adapts in one forward pass."},
    # the task's note
    "note.too_few": {"en": "Too few points to tell whether this is a training-like sinusoid."},
    "note.not_sinusoid": {"en": "Out of distribution: this curve is not a sinusoid (best fit A sin(x − b) explains "
                                "{percent:.0f}% of it). MAML was meta-trained on sinusoids only."},
    "note.amplitude": {"en": "amplitude {value:.2f} is outside [0.1, 5]"},
    "note.phase": {"en": "phase {value:.2f} is outside [0, π]"},
    "note.and": {"en": " and "},
    "note.shifted": {"en": "Out of distribution: a sinusoid, but its {reasons}."},
    "note.inside": {"en": "In distribution: a sinusoid with A ≈ {amplitude:.2f}, phase b ≈ {phase:.2f}."},
    # ---------------------------------------------------------------- the Characters tab
    "characters.intro": {"en": r"""
### Few-shot classification: draw N new characters, K times each
Draw an example, choose its class and press **Add**; repeat until every class has K examples
(or pick examples from the Omniglot gallery). Then draw a query character and press **Adapt**.
The head starts at zero, so before adaptation every class is equally likely; each inner step
$\phi_{k+1} = \phi_k - \alpha \nabla_{\phi} \mathcal{L}_{\text{support}}(\phi_k)$ moves the
probabilities. $\mathcal{L}_{\text{support}}$ is the mean cross-entropy over the N·K examples;
Finn et al.'s code sums over the N classes instead, so their α = 0.4 at N = 5 is α = 2.0 here.
The small pictures are the 28×28 inputs the network actually sees.
"""},
    "characters.ways.label": {"en": "N (classes)"},
    "characters.shots.label": {"en": "K (examples per class)"},
    "characters.sketch.label": {"en": "Draw an example"},
    "characters.class.label": {"en": "Class of this example"},
    "characters.class_name": {"en": "Class {number}"},
    "characters.add": {"en": "Add"},
    "characters.clear": {"en": "Clear all"},
    "characters.gallery.accordion": {"en": "Pick examples from Omniglot"},
    "characters.gallery.load": {"en": "Load Omniglot gallery"},
    "characters.gallery.label": {"en": "Omniglot (evaluation alphabets)"},
    "characters.sheet.label": {"en": "Support set: each drawing and the 28×28 input the model sees"},
    "characters.query.label": {"en": "Query"},
    "characters.query_seen.label": {"en": "query as the model sees it"},
    "characters.inner_lr.label": {"en": "α (inner learning rate)"},
    "characters.steps.label": {"en": "Inner steps S"},
    "characters.delay.label": {"en": "Delay per step (s)"},
    "characters.probabilities.label": {"en": "class probabilities"},
    "characters.losses.label": {"en": "support loss"},
    "characters.distances.label": {"en": "per-layer distance"},
    "characters.step_status": {"en": "Step {step} of {steps}: the query looks most like **{name}** ({probability:.0%})."},
    "characters.ended": {"en": "{ending} The query looks most like **{name}** ({probability:.0%}) after step {step}."},
    "characters.subject": {"en": "these examples"},
    "characters.choose_class": {"en": "choose a class from 1 to {ways}, got {value}"},
    "characters.class_full": {"en": "Class {number} already has {shots} examples, the most K allows; "
                                    "add to another class or press Clear all"},
    "characters.gallery_first": {"en": "load the Omniglot gallery first, then click one of its characters"},
    "characters.gallery_failed": {"en": "{reason} Drawing still works."},
    "omniglot.offline": {"en": "Omniglot's images could not be downloaded: this server has no internet connection."},
    "omniglot.other": {"en": "Omniglot's images could not be downloaded."},
    "omniglot.missing": {"en": "The Omniglot sources named in {variable} are missing: {names}."},
    "omniglot.unreadable": {"en": "Omniglot's images could not be read ({reason})."},
    "characters.gallery_ready": {"en": "{count} Omniglot characters: click one to add it to the chosen class."},
    "characters.query_sketch": {"en": "the query sketch"},
    "characters.brush_hint": {"en": "The canvases start with the brush chosen: draw straight away."},
    "characters.probabilities.empty": {"en": "draw examples and a query, then press Adapt"},
    "characters.about": {"en": "About this tab"},
    "characters.replay.label": {"en": "Replay: inner step k"},
    "characters.replay.info": {"en": "After a run: drag, type a step and press Enter, or use the arrow keys."},
    "characters.replay_first": {"en": "run Adapt first; the slider replays a finished run"},
    "characters.done": {"en": "Done: {steps} step(s). The query looks most like **{name}** ({probability:.0%})."},
    "hint.inner_lr.selected": {"en": "The card's α for {ways}-way {shots}-shot ({algorithm} trained with {trained:g})."},
    "characters.sheet_class": {"en": "Class {number}"},
    # ---------------------------------------------------------------- inputs
    "input.not_number": {"en": "{name} must be a number, got {value}"},
    "input.out_of_range": {"en": "{name} must be between {low} and {high}, got {value}"},
    "input.not_whole": {"en": "{name} must be a whole number, got {value}"},
    "input.point_not_finite": {"en": "a point must have finite coordinates, got ({x}, {y})"},
    "input.too_many_points": {"en": "at most {limit} points; click a point to remove it first"},
    "input.no_points": {"en": "no points yet: click on the plot to add support points"},
    "input.points_over": {"en": "at most {limit} points, got {count}"},
    "input.point_pair": {"en": "point {index} must be a pair [x, y], got {value}"},
    "input.nothing_drawn": {"en": "nothing drawn yet: draw a curve across the canvas"},
    "input.drawing_size": {"en": "the drawing must be an RGBA image of at most {side} pixels a side"},
    "input.drawing_cover": {"en": "the drawing layer must cover the {width}×{height} canvas, got {got_width}×{got_height}"},
    "input.layers_differ": {"en": "the drawing's layers differ in size"},
    "input.curve_short": {"en": "the curve is too short: draw across at least a tenth of the x-range"},
    "input.sketch_empty": {"en": "{sketch} is empty: draw a character first"},
    "input.this_sketch": {"en": "this sketch"},
    "input.need_examples": {"en": "need {shots} example(s) for each of the {ways} classes: {missing}"},
    "input.class_count": {"en": "class {number} has {count} of {shots}"},
    "input.list_separator": {"en": "; "},
    # ---------------------------------------------------------------- runs
    "run.stopped": {"en": "Stopped."},
    "run.stopping": {"en": "Stopped at step {step}."},
    "run.pause_expired": {"en": "Paused for over {seconds:.0f} s, so the run ended here."},
    "run.time_limit": {"en": "The run reached its time limit of {seconds:.0f} s and ended here."},
    "run.diverged": {"en": "α is too large for {subject}: the support loss grew ×{factor} in {steps} step(s), "
                           "so the run stopped at step {steps}. Try a smaller α."},
    "run.not_finite": {"en": "α is too large for {subject}: step {next} gave non-finite values, so the run stopped at "
                             "step {steps}. Try a smaller α."},
    # ---------------------------------------------------------------- checkpoints
    "checkpoint.no_card": {"en": "{label} is unavailable: it has no model card."},
    "checkpoint.bad_json": {"en": "{label} is unavailable: its model card is not valid JSON."},
    "checkpoint.invalid": {"en": "{label} is unavailable: {reason}."},
    "checkpoint.bad_field": {"en": "{label} is unavailable: its model card lacks or misreads a field ({field})."},
    "checkpoint.unreadable": {"en": "{label} is unavailable: its file could not be read."},
    "checkpoint.other_card": {"en": "its model card describes another checkpoint"},
    "checkpoint.not_listed": {"en": "it is not listed in {manifest}"},
    "checkpoint.sha_disagree": {"en": "its model card and {manifest} give different sha256s"},
    "checkpoint.tampered": {"en": "its file does not match the sha256 published for it"},
    "checkpoint.none_for": {"en": "no checkpoint for algorithm {value} in this tab; choose one of: {names}"},
    "checkpoint.none": {"en": "none"},
    "checkpoint.unavailable": {"en": "{reason}"},
    "card.trained": {"en": "**{label}** checkpoint: {iterations:,} meta-iterations"},
    "card.warm_start": {"en": " (the first {iterations:,} first-order)"},
    "card.alphabets": {"en": " on {count} alphabets ({episodes})"},
    "card.steps": {"en": ", {steps} inner steps at α = {lr:g}"},
    "card.steps.one": {"en": ", 1 inner step at α = {lr:g}"},
    "card.support": {"en": " on K = {support} points in training"},
    "card.in_training": {"en": " in training"},
    "card.end": {"en": "."},
    "card.omniglot_scores": {"en": " On alphabets it never saw ({alphabets}), after {steps} steps: {scores}."},
    "card.omniglot_row": {"en": "{ways}-way {shots}-shot {mean:.1f} ± {ci:.1f}%"},
    "card.row_lr": {"en": " (α = {lr:g})"},
    "card.row_lr_note": {"en": " Each α in brackets was chosen for its row on a validation alphabet, not on these."},
    "card.sinusoid_after_step": {"en": " Query MSE on {tasks:,} fresh tasks with K = 10: after 1 step {after:.2f} "
                                       "(before adapting {before:.2f})."},
    "card.sinusoid_forward": {"en": " Query MSE on {tasks:,} fresh tasks with K = 10: in one forward pass {after:.2f}."},
    "card.episodes": {"en": "{shapes} episodes{mirrors}"},
    "card.mirrors": {"en": ", mirror images as extra classes"},
    "card.episode_shape": {"en": "{ways}-way {shots}-shot"},
    "card.episode_share": {"en": " ({count} of {total})"},
    "card.episode_list": {"en": ", "},
    "card.in_turn": {"en": ", in turn"},
    "card.separator": {"en": "; "},
    # ---------------------------------------------------------------- the error boundary
    "error.title.invalid": {"en": "Invalid input"},
    "error.title.memory": {"en": "Out of memory"},
    "error.title.server": {"en": "Server error"},
    "error.input_unreadable": {"en": "one of the inputs could not be read"},
    "error.input": {"en": "{label}: {reason}"},
    "error.image_pixels": {"en": "the image has more than {pixels:,} pixels, the most this app accepts"},
    "error.not_image": {"en": "this file is not an image that can be read (use PNG, JPEG or WebP)"},
    "error.expected": {"en": "expected {expected}, got {value}"},
    "error.malformed": {"en": "One of the inputs does not have the form this endpoint expects (see the API page "
                              "for each input's type), or names a file that was not uploaded to this server."},
    "error.unknown_choice": {"en": "{label}: {value} is not one of the choices ({choices})"},
    "error.memory": {"en": "The server ran out of memory for this request. Try fewer steps or fewer examples, "
                           "or try again in a moment."},
    "error.foreign_file": {"en": "A file in this request was not uploaded to this server; upload it first."},
    "error.fault": {"en": "Something went wrong on the server (reference {reference}). Try again; if it happens "
                          "again, the server log has the details under that reference."},
    "error.input_count": {"en": "this endpoint takes {needed} inputs, got {got}"},
    "error.input_index": {"en": "input {index}"},
    "expected.Number": {"en": "a number"},
    "expected.Slider": {"en": "a number"},
    "expected.Radio": {"en": "one of the listed choices"},
    "expected.Dropdown": {"en": "one of the listed choices"},
    "expected.Dataframe": {"en": "a table of numbers"},
    "expected.ImageEditor": {"en": "a drawing (PNG, JPEG or WebP layers)"},
    "expected.Sketchpad": {"en": "a drawing (PNG, JPEG or WebP)"},
    "expected.Image": {"en": "an image (PNG, JPEG or WebP)"},
    "expected.Checkbox": {"en": "true or false"},
    "expected.Textbox": {"en": "text"},
    "expected.other": {"en": "another type"},
}


def text(key: str, language: str = DEFAULT_LANGUAGE, **fields) -> str:
    """The message `key` in `language` (English where it has no translation yet), with `fields` filled in."""
    entry = MESSAGES[key]
    template = entry.get(language, entry[DEFAULT_LANGUAGE])
    return template.format(**fields) if fields else template  # a message without fields may hold braces (LaTeX)


def power_of_ten(value: float) -> str:
    """A positive number as the nearest power of ten, written as people read it: 3.2e28 → 10²⁸."""
    import math

    exponent = round(math.log10(value)) if value > 0 and math.isfinite(value) else 0
    return "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


class Problem(ValueError):
    """A person's mistake as a message key and its fields; str() is the English message."""

    def __init__(self, key: str, **fields):
        self.key, self.fields = key, fields
        super().__init__(text(key, **fields))
