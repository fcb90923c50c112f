"""State frames and counts under rapid concurrent changes through several nodes on Redis
(API.md v1.1 "State events"): the user's sockets sit on different nodes and the changes are
made through every node at once; on each socket a `count` frame never reflects a change whose
state frame that socket has not got yet, a socket whose token lacks the group gets no state
frame about a group item, and the last count is the true one (see
tests/integration/state_order.py). HERALD_TEST_ORDER_RUNS (default 3) seeded runs."""
import os

import pytest

import state_order

RUNS = int(os.environ.get("HERALD_TEST_ORDER_RUNS", "3"))
SEED = int(os.environ.get("HERALD_TEST_ORDER_SEED", "1"))


@pytest.mark.parametrize("seed", [SEED + k for k in range(RUNS)])
def test_rapid_changes_on_every_node_never_count_ahead_of_their_state_frames(
        shared_cluster, new_user, seed):
    nodes = shared_cluster.nodes
    uid = new_user()
    socks = []
    for k, node in enumerate(nodes):
        socks.append((shared_cluster.ws(node, uid, groups=[state_order.GROUP]), True))
        socks.append((shared_cluster.ws(node, uid), False))
    first = nodes[0]
    state_order.run(seed, socks, nodes, nodes[-1],
                    lambda node, g: node.token(uid, [state_order.GROUP] if g else None), uid,
                    first.notify_ok, leak_check=True)
