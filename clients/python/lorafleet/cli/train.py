"""``lorafleet train`` and ``lorafleet jobs list|show|cancel`` over TrainerService.

Wired into the ``lorafleet`` command by a one-line module in ``lorafleet/cli/`` that re-exports
``register``. The trainer address: ``--server``, else ``$LORAFLEET_TRAINER_ADDRESS``, else
``$LORAFLEET_HOST:$LORAFLEET_TRAINER_PORT`` (``lorafleet.client.addresses``).

``lorafleet train DATASET --name NAME`` uploads DATASET (a local JSONL file; a ``ds-…`` id is
used as is; with ``--server-path`` it is a path under the server's data roots), creates the
job and follows it with a live progress bar (step, loss, tokens/s, the server's ETA) until it
ends. ``--json`` prints only the final job as one JSON document; ``--no-wait`` returns after
creating. Exit status: 0 when the job SUCCEEDED (or was only created), 1 when it FAILED or was
CANCELLED.

``--method sft|dpo`` picks the objective (``--adapter-method qlora|lora`` the adapter flavour;
``--method qlora|lora`` is still read as the adapter flavour, its older spelling). DPO trains on
preference data (``{"prompt"|"messages", "chosen", "rejected"}``) and takes ``--beta``,
``--loss-type``, ``--label-smoothing``, ``--sft-weight`` and ``--best-metric``; ``--init-from
support-bot@1`` starts from that adapter, which DPO then also uses as its reference (SFT -> DPO).
``--extrapolate-mlp S --extrapolate-attention S`` register the trained update scaled by part (what
``lorafleet extrapolate`` does to a directory, done by the job before it registers).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lorafleet.cli.client_args import client_from_args, client_parent
from lorafleet.cli.output import console, message_dict, print_json, timestamp
from lorafleet.errors import InvalidArgument
from lorafleet.names import (
    ADAPTER_METHODS,
    COMPUTE_DTYPES,
    DATASET_FORMATS,
    DPO_LOSS_TYPES,
    JOB_STATES,
    PREFERENCE_METRICS,
    TRAINING_METHODS,
)


def trainer_client(args: argparse.Namespace) -> Any:
    return client_from_args(args).trainer


def register(subparsers: Any) -> None:
    common = [client_parent("trainer")]
    _train_parser(subparsers, common)
    _jobs_parser(subparsers, common)


def _train_parser(subparsers: Any, common: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("train", parents=common, help="fine-tune a LoRA/QLoRA adapter on a JSONL dataset")
    p.add_argument("dataset", metavar="DATASET", help="local JSONL file to upload, or an uploaded dataset id (ds-...)")
    p.add_argument("--name", required=True, help="adapter name; the job registers its next version")
    p.add_argument("--method", choices=TRAINING_METHODS.choices + ADAPTER_METHODS.choices, default="sft",
                   help="sft (default) or dpo (preference pairs); qlora/lora: the older spelling of --adapter-method")
    p.add_argument("--adapter-method", choices=ADAPTER_METHODS.choices, default="",
                   help="QLoRA (nf4 base, default) or LoRA")
    p.add_argument("--init-from", default="", metavar="ADAPTER",
                   help="start from this adapter (name@version, name@alias); DPO's reference too (default: the base)")
    p.add_argument("--server-path", action="store_true", help="DATASET is a path under the server's data roots")
    g = p.add_argument_group("data")
    g.add_argument("--validation", metavar="FILE", default="", help="validation JSONL (local file or ds- id)")
    g.add_argument("--validation-split", type=float, default=0.0, metavar="F", help="hold out this fraction instead")
    g.add_argument("--format", choices=DATASET_FORMATS.choices, default="", help="default: detect")
    g = p.add_argument_group("LoRA")
    g.add_argument("-r", "--rank", type=int, default=16)
    g.add_argument("--alpha", type=float, default=32.0)
    g.add_argument("--dropout", type=float, default=0.05)
    g.add_argument("--target-modules", nargs="+", default=["all-linear"], metavar="MODULE")
    g.add_argument("--rslora", action="store_true", help="scale by alpha/sqrt(r) (rsLoRA)")
    _optimisation_arguments(p.add_argument_group("optimisation"))
    _dpo_arguments(p.add_argument_group("DPO (--method dpo)"))
    g = p.add_argument_group("registered update")
    g.add_argument("--extrapolate-mlp", type=float, default=0.0, metavar="S",
                   help="register the trained update scaled xS on the MLP projections, S in (0, 4] (default 1)")
    g.add_argument("--extrapolate-attention", type=float, default=0.0, metavar="S",
                   help="the same on the attention projections (default 1); see `lorafleet extrapolate`")
    p.add_argument("--description", default="")
    p.add_argument("--no-wait", action="store_true", help="return once the job is created")
    p.add_argument("--json", action="store_true", help="print only the final job as JSON")
    p.set_defaults(func=cmd_train)


def _optimisation_arguments(g: Any) -> None:
    g.add_argument("--epochs", type=int, default=0, help="default: server's (1)")
    g.add_argument("--batch-size", type=int, default=0)
    g.add_argument("--grad-accum", type=int, default=0)
    g.add_argument("--lr", type=float, default=0.0, help="learning rate (default: server's)")
    g.add_argument("--scheduler", choices=("cosine", "linear", "constant"), default="")
    g.add_argument("--warmup-ratio", type=float, default=0.0)
    g.add_argument("--warmup-steps", type=int, default=0)
    g.add_argument("--max-seq-length", type=int, default=0)
    g.add_argument("--max-steps", type=int, default=0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-packing", action="store_true")
    g.add_argument("--compute-dtype", choices=COMPUTE_DTYPES.choices, default="auto",
                   help="precision of the frozen base's matmuls (auto: bfloat16 for QLoRA where the CPU/GPU "
                        "multiplies it natively, else float32)")
    g.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps (default: once per epoch)")
    g.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    g.add_argument("--answer-start-weight", type=float, default=0.0, metavar="W",
                   help="SFT: weight of each answer's first tokens in the loss (default: server's, 1)")
    g.add_argument("--answer-start-tokens", type=int, default=0, metavar="K",
                   help="SFT: how many tokens open an answer (default: server's, 2)")
    g.add_argument("--anchor-weight", type=float, default=0.0, metavar="L",
                   help='SFT: weight of the KL to the base model on "anchor": true records (default: server\'s, 1)')


def _dpo_arguments(g: Any) -> None:
    g.add_argument("--beta", type=float, default=0.0, help="KL strength towards the reference (default: server's, 0.1)")
    g.add_argument("--loss-type", choices=DPO_LOSS_TYPES.choices, default="", help="default: sigmoid")
    g.add_argument("--label-smoothing", type=float, default=0.0, metavar="EPS",
                   help="assumed share of flipped preference labels, in [0, 0.5)")
    g.add_argument("--sft-weight", type=float, default=0.0, help="add this weight x the chosen answers' NLL (RPO)")
    g.add_argument("--best-metric", choices=PREFERENCE_METRICS.choices, default="",
                   help="validation figure that picks the best checkpoint and drives early stopping (default: loss)")


def _jobs_parser(subparsers: Any, common: list[argparse.ArgumentParser]) -> None:
    jobs = subparsers.add_parser("jobs", help="list, show and cancel training jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    q = sub.add_parser("list", parents=common, help="training jobs, newest first")
    q.add_argument("--state", type=str.lower, choices=JOB_STATES.choices, default=None)
    q.add_argument("--name", default="", help="only jobs of this adapter")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_jobs_list)
    q = sub.add_parser("show", parents=common, help="one job with progress, checkpoints and metrics")
    q.add_argument("job_id", metavar="JOB_ID")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_jobs_show)
    q = sub.add_parser("cancel", parents=common, help="cancel a queued or running job")
    q.add_argument("job_id", metavar="JOB_ID")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_jobs_cancel)


def _dataset_ref(client: Any, value: str, *, server_path: bool, quiet: bool) -> tuple[str, str]:
    """(dataset id, server path): exactly one is set."""
    if not value:
        return "", ""
    if value.startswith("ds-") and not Path(value).exists():
        return value, ""
    if server_path:
        return "", value
    path = Path(value)
    if not path.is_file():
        raise InvalidArgument(f"{value!r} is not a file (use --server-path for a path on the server)", field="dataset")
    ds = client.upload_dataset(path)
    if not quiet:
        console().print(f"uploaded {path.name}: {ds.id} ({ds.num_examples} examples)")
    return ds.id, ""


def cmd_train(args: argparse.Namespace) -> int:
    from lorafleet.client.trainer import TERMINAL_STATES

    client = trainer_client(args)
    train_id, train_path = _dataset_ref(client, args.dataset, server_path=args.server_path, quiet=args.json)
    val_id, val_path = _dataset_ref(client, args.validation, server_path=args.server_path, quiet=args.json)
    hp = {k: v for k, v in dict(
        epochs=args.epochs, batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr, warmup_ratio=args.warmup_ratio, warmup_steps=args.warmup_steps,
        max_seq_length=args.max_seq_length, max_steps=args.max_steps, seed=args.seed,
        eval_every_steps=args.eval_every, early_stopping_patience=args.early_stopping,
        answer_start_weight=args.answer_start_weight, answer_start_tokens=args.answer_start_tokens,
        anchor_weight=args.anchor_weight).items() if v}
    if args.no_packing:
        hp["packing"] = False
    method, adapter_method = _methods(args)
    dpo = dict(beta=args.beta, loss_type=args.loss_type, label_smoothing=args.label_smoothing,
               sft_weight=args.sft_weight, best_metric=args.best_metric) if method == "dpo" else {}
    job = client.create_job(
        args.name, training_dataset_id=train_id, training_dataset_path=train_path, adapter_method=adapter_method,
        r=args.rank, alpha=args.alpha, dropout=args.dropout, target_modules=args.target_modules,
        use_rslora=args.rslora, validation_dataset_id=val_id, validation_dataset_path=val_path,
        validation_split=args.validation_split, dataset_format=args.format, description=args.description,
        lr_scheduler=args.scheduler, compute_dtype=args.compute_dtype, method=method, init_from=args.init_from,
        extrapolate_mlp=args.extrapolate_mlp, extrapolate_attention=args.extrapolate_attention, **dpo, **hp)
    if args.no_wait:
        return _print_job(job, args.json)
    if not args.json:
        console().print(f"job {job.id} created for {args.name}")
        _follow(client, job.id)
    else:
        for _ in client.watch(job.id):
            pass
    job = client.get_job(job.id)
    _print_job(job, args.json)
    from lorafleet.v1 import trainer_pb2

    assert job.state in TERMINAL_STATES
    return 0 if job.state == trainer_pb2.JOB_STATE_SUCCEEDED else 1


def _methods(args: argparse.Namespace) -> tuple[str, str]:
    """(training method, adapter method) from ``--method`` and ``--adapter-method``."""
    if args.method in ADAPTER_METHODS.choices:  # the older spelling: --method lora
        if args.adapter_method and args.adapter_method != args.method:
            raise InvalidArgument(f"--method {args.method} contradicts --adapter-method {args.adapter_method}",
                                  field="adapter_method")
        return "sft", args.method
    dpo_flags = [f for f, v in (("--beta", args.beta), ("--loss-type", args.loss_type),
                                ("--sft-weight", args.sft_weight), ("--label-smoothing", args.label_smoothing),
                                ("--best-metric", args.best_metric)) if v]
    if dpo_flags and args.method != "dpo":
        raise InvalidArgument(f"{', '.join(dpo_flags)} only apply with --method dpo", field="method")
    return args.method, args.adapter_method or "qlora"


def _progress_info(p: Any) -> str:
    info = (f"loss {p.train_loss:.4f}  lr {p.learning_rate:.2e}  {p.tokens_per_second:,.0f} tok/s  "
            f"ETA {int(p.eta_seconds) // 60}:{int(p.eta_seconds) % 60:02d}")
    if p.HasField("preference"):
        info += f"  margin {p.preference.reward_margin:.3f}  acc {p.preference.reward_accuracy:.2f}"
    return info


def _follow(client: Any, job_id: str) -> None:
    """Live progress bar fed by WatchTrainingJob; the ETA is the server's (recent step times)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from lorafleet.client.trainer import state_name
    from lorafleet.v1 import trainer_pb2

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), console=console(), transient=False) as bar:
        task = bar.add_task("queued", total=None, info="")
        for event in client.watch(job_id):
            if event.type == trainer_pb2.TRAINING_EVENT_TYPE_STATE_CHANGED:
                bar.update(task, description=state_name(event.state).lower())
                if event.message:
                    bar.console.print(event.message)
            elif event.type == trainer_pb2.TRAINING_EVENT_TYPE_PROGRESS:
                p = event.progress
                bar.update(task, total=p.total_steps, completed=p.step, info=_progress_info(p))
            elif event.type == trainer_pb2.TRAINING_EVENT_TYPE_EVALUATION:
                bar.console.print(event.message)
            elif event.type == trainer_pb2.TRAINING_EVENT_TYPE_CHECKPOINT_SAVED:
                bar.console.print(f"checkpoint at step {event.checkpoint.step}: {event.checkpoint.path}")
            elif event.message:
                bar.console.print(event.message)


def _print_job(job: Any, as_json: bool) -> int:
    from lorafleet.client.trainer import state_name

    if as_json:
        print_json(job)
        return 0
    out = console()
    out.print(f"[bold]{job.id}[/bold]  {job.adapter_name}  {state_name(job.state)}")
    if job.adapter_version:
        out.print(f"adapter version: {job.adapter_name}@{job.adapter_version} (CANDIDATE)")
    if job.error:
        out.print(f"[red]error:[/red] {job.error}")
    p = job.progress
    if p.total_steps:
        out.print(f"step {p.step}/{p.total_steps}  loss {p.train_loss:.4f}  {p.tokens_per_second:,.0f} tok/s  "
                  f"elapsed {p.elapsed_seconds:.0f}s")
    for name in sorted(job.metrics):
        out.print(f"  {name}: {job.metrics[name]:.4g}")
    for c in job.checkpoints:
        best = " (best)" if c.best else ""
        pref = (f", margin {c.validation_preference.reward_margin:.3f}, accuracy "
                f"{c.validation_preference.reward_accuracy:.2f}") if c.HasField("validation_preference") else ""
        out.print(f"  checkpoint step {c.step}: val loss {c.validation_loss:.4f}{pref}{best}  {c.path}")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from lorafleet.client.trainer import state_name

    jobs = list(trainer_client(args).iter_jobs(state=args.state, adapter_name=args.name))
    if args.json:
        print_json({"jobs": [message_dict(j) for j in jobs]})
        return 0
    table = Table("job", "adapter", "state", "step", "loss", "version", "created")
    for j in jobs:
        table.add_row(j.id, j.adapter_name, state_name(j.state), f"{j.progress.step}/{j.progress.total_steps}",
                      f"{j.progress.train_loss:.4f}" if j.progress.step else "",
                      str(j.adapter_version or ""), timestamp(j.create_time))
    console().print(table)
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    return _print_job(trainer_client(args).get_job(args.job_id), args.json)


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    return _print_job(trainer_client(args).cancel_job(args.job_id), args.json)
