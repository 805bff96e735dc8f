"""Memory-efficient backward through the IFT, using its exact invertibility.

Ordinary backprop keeps every invertible block's activations until the
backward pass, so memory grows with depth x crop area. Each block can
instead recompute its input from its output (SPEC 3: the coupling has an
exact inverse), so only one block's activations need to be alive at a time.
For each direction of the bidirectional loss (Eq. 12):

1. run the IFT forward without building a graph, keeping only its output;
2. the gradient of the loss w.r.t. that output, through the (frozen) decoder;
3. walk the blocks from last applied to first: invert the block to recover
   its input, re-run it on that input with a graph, and back-propagate the
   incoming gradient through this one block (vector-Jacobian product). That
   gives the block's parameter gradients and the gradient w.r.t. its input,
   which feeds the next block.

Every step is executed before the next block starts, and what passes from
one block to the next (the gradient, the recovered input) is rebuilt from its
data, so that Jittor frees what the previous block built. The encoder needs no gradient:
its weights are frozen and its input is data.
"""
import jittor as jt

from ..losses import LOSSES, quantize


def _data(v):
    """The value of ``v`` as a new var with no graph behind it.

    A computed Jittor var keeps the graph that made it (and so its
    activations) alive while it may still need a gradient; ``detach()`` is a
    clone op that can keep it too. Rebuilding the var from its data is what
    lets each block's activations go.
    """
    return jt.array(v.numpy()).stop_grad()


def _leaf(v):
    """A graph-free leaf that takes gradients (``jt.grad`` silently returns zeros
    for a stop-grad var)."""
    v = _data(v)
    v.start_grad()
    return v


def _direction_grads(model, f_in, target, loss_fn, weight, reverse, grads):
    """Accumulate d(weight * loss(D(IFT(f_in)), target))/d(params) into ``grads``.

    ``reverse=False`` is the enhance direction, ``True`` the degrade one.
    Returns the loss value (a float, unweighted).
    """
    blocks = list(model.ift.blocks)
    # Blocks in the order this direction applies them (SPEC 3 / ift.IFT.execute).
    order = blocks if reverse else blocks[::-1]
    with jt.no_grad():
        f = f_in
        for block in order:
            f = block.degrade(f) if reverse else block.enhance(f)
            f.sync()
    f_out = _leaf(f)
    loss = loss_fn(model.decoder(f_out), target)
    g = jt.grad(loss * weight, f_out)
    loss_value = float(loss.item())
    g = _data(g)
    y = f_out
    for block in reversed(order):
        with jt.no_grad():  # recover this block's input from its output
            x = block.enhance(y) if reverse else block.degrade(y)
            x.sync()
        x = _leaf(x)
        out = block.degrade(x) if reverse else block.enhance(x)
        params = block.parameters()
        local = jt.grad((out * g).sum(), [x] + params)
        g = _data(local[0])
        for p, gp in zip(params, local[1:]):
            gp = _data(gp)
            grads[id(p)] = _data(grads[id(p)] + gp) if id(p) in grads else gp
        y = x
    return loss_value


def reversible_grads(model, x_lq, x_hq, loss_cfg):
    """Gradients of the bidirectional loss (Eq. 12) by the reversible backward.

    Returns ({id(param): grad}, {"enhance": float, "degrade": float, "total": float}).
    """
    loss_fn = LOSSES[loss_cfg["type"]]
    grads = {}
    with jt.no_grad():
        f_l = model.encoder(x_lq).detach()
    parts = {"enhance": _direction_grads(model, f_l, x_hq, loss_fn, loss_cfg["lambda_enhance"],
                                         False, grads)}
    total = loss_cfg["lambda_enhance"] * parts["enhance"]
    if loss_cfg["lambda_degrade"]:
        with jt.no_grad():
            target = quantize(x_hq) if loss_cfg["quantize_target"] else x_hq
            f_h = model.encoder(target).detach()
        parts["degrade"] = _direction_grads(model, f_h, x_lq, loss_fn,
                                            loss_cfg["lambda_degrade"], True, grads)
        total += loss_cfg["lambda_degrade"] * parts["degrade"]
    parts["total"] = total
    return grads, parts


def install_grads(optimizer, grads):
    """Put precomputed gradients where ``optimizer.step()`` reads them.

    Mirrors one ``Optimizer.backward`` call (one increment of ``n_step``, for
    Adam's bias correction), including the mean over ranks under MPI.
    """
    for pg in optimizer.param_groups:
        if "grads" not in pg:
            pg["grads"] = [jt.zeros_like(p).stop_grad().stop_fuse() for p in pg["params"]]
        for i, p in enumerate(pg["params"]):
            if p.is_stop_grad():
                continue
            g = grads.get(id(p))
            g = jt.zeros_like(p) if g is None else g
            if jt.in_mpi:
                g = g.mpi_all_reduce("mean")
            pg["grads"][i].update(g.stop_grad())
    optimizer._Optimizer__zero_grad = False
    optimizer.n_step += 1


def reversible_step(model, optimizer, x_lq, x_hq, train_cfg):
    """:func:`jsymnet.engine.step.train_step` with the reversible backward."""
    grads, parts = reversible_grads(model, x_lq, x_hq, train_cfg["loss"])
    install_grads(optimizer, grads)
    if train_cfg["optim"]["grad_clip"]:
        optimizer.clip_grad_norm(train_cfg["optim"]["grad_clip"])
    optimizer.step()
    return parts
