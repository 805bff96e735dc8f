"""Memory-efficient backward through the IFT, using its exact invertibility.

Ordinary backprop keeps every invertible block's activations until the
backward pass, so memory grows with depth x crop area. Each block can
instead recompute its input from its output (the coupling has an exact
inverse: docs/design.md#ift), so only one block's activations need to be alive at a time.
For each direction of the bidirectional loss (Eq. 12):

1. run the IFT forward without building a graph, keeping only its output;
2. the gradient of the loss w.r.t. that output, through the (frozen) decoder;
3. walk the blocks from last applied to first; for each, recover its input
   from its output and back-propagate the incoming gradient through it
   (:func:`degrade_vjp` / :func:`enhance_vjp`). That gives the block's
   parameter gradients and the gradient w.r.t. its input, which feeds the
   next block.

Step 3 evaluates each subnet F, G, H once per block, on the very input the
forward pass gave it: the inverse of the coupling needs the same subnet
outputs as its backward, so one evaluation with a graph serves both. (Inverting
first and then re-running the block would evaluate every subnet twice: five
subnet passes per block instead of four, counting the forward of step 1
and the backward as two.)

Every step is executed before the next block starts, and what passes from
one block to the next (the gradient, the recovered input) is rebuilt from its
data, so that Jittor frees what the previous block built. The encoder needs no gradient:
its weights are frozen and its input is data.
"""
import jittor as jt

from ..losses import loss_function, loss_terms
from ..models import layout
from ..models.stages import EAGER


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


def _pull(objective, wrt):
    """d(objective)/d(wrt), executed at once and rebuilt from data, so that the
    graph behind ``objective`` (a subnet's activations) is freed before the
    next subnet runs."""
    grads = jt.grad(objective, wrt)
    jt.sync(grads)
    return [_data(g) for g in grads]


def degrade_vjp(block, y, g):
    """Input and vector-Jacobian product of ``y = block.degrade(x)``, from ``y`` alone.

    Degrade (ift.InvertibleBlock): y1 = x1 + F(x2); y2 = x2 exp(s(y1)) + G(y1).
    Given g = dL/dy: H and G run once on y1; their outputs give x2 by the
    enhance half-step and the pull-back of g2 through the degrade half-step.
    F runs once on x2, which gives x1 = y1 - F(x2) and the pull-back of the
    total dL/dy1. Every formula is the block's own (``y2_enhance`` ...).
    Returns (x, dL/dx, [(param, dL/dparam), ...]), all executed.
    """
    c, lay = block.split, layout.active()
    (g1, g2), (y1, y2) = lay.split(g, c), lay.split(y, c)
    y1 = _leaf(y1)
    shift, h = block.G.run(y1), block.H.run(y1)
    x2 = _leaf(block.y2_enhance(y2, shift, h))
    gh = block.G.parameters() + block.H.parameters()
    local = _pull((g2 * block.y2_degrade(x2, shift, h)).sum(), [y1, x2] + gh)
    gy1, gx2 = _data(g1 + local[0]), local[1]
    del shift, h
    x2 = _leaf(x2)
    shift_f = block.F.run(x2)
    x1 = _data(block.y1_enhance(y1, shift_f))
    pf = block.F.parameters()
    local_f = _pull((gy1 * block.y1_degrade(x1, shift_f)).sum(), [x2] + pf)
    x, gx = lay.concat([x1, x2]), lay.concat([gy1, gx2 + local_f[0]])
    jt.sync([x, gx])
    return _data(x), _data(gx), list(zip(gh, local[2:])) + list(zip(pf, local_f[1:]))


def enhance_vjp(block, y, g):
    """Input and vector-Jacobian product of ``y = block.enhance(x)``, from ``y`` alone.

    Enhance: y2 = (x2 - G(x1)) exp(-s(x1)); y1 = x1 - F(y2). Given g = dL/dy:
    F runs once on y2, which gives x1 = y1 + F(y2) and the total dL/dy2;
    H and G run once on x1, which give x2 by the degrade half-step and the
    pull-back of dL/dy2 through the enhance one. Returns as :func:`degrade_vjp`.
    """
    c, lay = block.split, layout.active()
    (g1, g2), (y1, y2) = lay.split(g, c), lay.split(y, c)
    y2 = _leaf(y2)
    shift_f = block.F.run(y2)
    x1 = _data(block.y1_degrade(y1, shift_f))
    pf = block.F.parameters()
    local_f = _pull((g1 * block.y1_enhance(x1, shift_f)).sum(), [y2] + pf)
    gy2 = _data(g2 + local_f[0])
    del shift_f
    x1 = _leaf(x1)
    shift, h = block.G.run(x1), block.H.run(x1)
    x2 = _leaf(block.y2_degrade(y2, shift, h))
    gh = block.G.parameters() + block.H.parameters()
    local = _pull((gy2 * block.y2_enhance(x2, shift, h)).sum(), [x1, x2] + gh)
    x, gx = lay.concat([x1, x2]), lay.concat([g1 + local[0], local[1]])
    jt.sync([x, gx])
    return _data(x), _data(gx), list(zip(pf, local_f[1:])) + list(zip(gh, local[2:]))


def _direction_grads(model, f_in, target, loss_fn, weight, reverse, grads):
    """Accumulate d(weight * loss(D(IFT(f_in)), target))/d(params) into ``grads``.

    ``reverse=False`` is the enhance direction, ``True`` the degrade one.
    Returns the loss value (a float, unweighted).
    """
    # the backward walk visits the blocks in the other order than the direction applies them
    walk = model.ift.order(reverse)[::-1]
    vjp = degrade_vjp if reverse else enhance_vjp
    with jt.no_grad():  # block by block, keeping no graph
        f = model.ift.run(f_in, reverse, EAGER)
    f_out = _leaf(f)
    loss = loss_fn(model.run_decoder(f_out), target)
    g = jt.grad(loss * weight, f_out)
    loss_value = float(loss.item())
    g = _data(g)
    y = f_out
    for block in walk:
        y, g, pairs = vjp(block, y, g)
        new = [(p, gp if id(p) not in grads else grads[id(p)] + gp) for p, gp in pairs]
        jt.sync([gp for _, gp in new])
        for p, gp in new:
            grads[id(p)] = _data(gp)
    return loss_value


def reversible_grads(model, x_lq, x_hq, loss_cfg):
    """Gradients of the bidirectional loss (Eq. 12, :func:`~jsymnet.losses.loss_terms`) by
    the reversible backward.

    Returns ({id(param): grad}, {"enhance": float, "degrade": float, "total": float}).
    """
    loss_fn = loss_function(loss_cfg)
    grads, parts, total = {}, {}, 0.0
    for name, reverse, source, target, weight in loss_terms(x_lq, x_hq, loss_cfg):
        with jt.no_grad():
            f_in = model.run_encoder(source).detach()
        parts[name] = _direction_grads(model, f_in, target, loss_fn, weight, reverse, grads)
        total += weight * parts[name]
    parts["total"] = total
    return grads, parts
