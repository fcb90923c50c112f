"""The count soak of tests/integration/test_count_soak.py through two nodes on one MariaDB and
Redis: every request goes to a random node, the users' sockets are spread over both, and at the
end every node agrees with every socket (HERALD_SOAK_SEED, HERALD_SOAK_SECONDS as there)."""
import random
import time

import test_count_soak as soak


class AnyNode:
    """Sends each request to a node picked at random (a load balancer without stickiness)."""

    def __init__(self, nodes, seed):
        self.nodes = nodes
        self.rng = random.Random(seed)

    def __getattr__(self, name):
        return getattr(self.nodes[self.rng.randrange(len(self.nodes))], name)


def test_counts_and_lists_agree_after_a_concurrent_soak_on_two_nodes(cluster2, new_user):
    print("HERALD_SOAK_SEED=%d HERALD_SOAK_SECONDS=%g" % (soak.SEED, soak.SECONDS))
    a, b = cluster2.nodes
    users = [new_user() for _ in range(soak.USERS)]
    tokens = {u: a.token(u, soak.groups_of(i)) for i, u in enumerate(users)}
    sockets = {u: soak.Socket(cluster2.ws((a, b)[i % 2], u, groups=soak.groups_of(i)))
               for i, u in enumerate(users)}
    run = soak.Soak(AnyNode([a, b], soak.SEED), users, tokens, sockets)
    run.run(soak.SECONDS)
    print("%d operations, %d items stored" % (run.ops, len(run.ids)))
    assert not run.errors, "seed %d: unexpected answers: %r" % (soak.SEED, run.errors[:10])
    time.sleep(1.5)
    states = [soak.state_of(n, tokens) for n in (a, b)]
    for n, st in zip("ab", states):
        soak.check_agreement(st, "node " + n)
    assert states[0] == states[1], "seed %d: the nodes disagree" % soak.SEED
    stale = soak.final_counts_of_sockets(sockets, states[0])
    errors = {u: s.error for u, s in sockets.items() if s.error}
    for s in sockets.values():
        s.close()
    assert not errors, "seed %d: socket errors %r" % (soak.SEED, errors)
    assert not stale, "seed %d: sockets show (shown, count) %r" % (soak.SEED, stale)
