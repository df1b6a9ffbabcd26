"""The notebook test runner (nbval) keeps every message of a cell that sends thousands.

nbval reads a cell's output only after the cell's reply; ZeroMQ drops what
piles up past its high-water mark meanwhile. The demo's sweep cell sent about
6000 widget messages and failed about one run in three with "Timeout of 5
seconds exceeded waiting for output". The root conftest gives nbval's kernel
client an unbounded queue; this test drives nbval's own kernel the way nbval
does, with a cell that sends 30000 messages.
"""

from __future__ import annotations

from queue import Empty

import pytest

nbval_kernel = pytest.importorskip("nbval.kernel")

FLOOD = "import ipywidgets as w\ns = w.IntSlider(max=10**6)\nfor i in range(30000):\n    s.value = i\nprint('done')"


@pytest.mark.timeout(300)
def test_nbval_kernel_gets_the_output_and_idle_of_a_cell_that_sends_30000_messages():
    kernel = nbval_kernel.RunningKernel(nbval_kernel.CURRENT_ENV_KERNEL_NAME)
    try:
        msg_id = kernel.execute_cell_input(FLOOD, allow_stdin=False)
        kernel.await_reply(msg_id, timeout=240)  # as nbval does: the reply first, the output after
        seen, printed = 0, ""
        while True:
            try:
                msg = kernel.get_message(stream="iopub", timeout=5)  # nbval's output timeout
            except Empty:
                pytest.fail(f"the cell's output stopped after {seen} messages: the rest were dropped")
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            seen += 1
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert printed == "done\n"
        assert seen > 30000  # every value update arrived, then the print and the idle status
    finally:
        kernel.stop()
