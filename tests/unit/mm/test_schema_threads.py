"""The contract's schemas are built once per process, also when the first uses come at once:
a freshly started operator process gets its first deliveries on many threads together."""

import subprocess
import sys
import textwrap


def test_threads_that_need_a_schema_at_the_same_moment_all_get_it():
    # A fresh interpreter: the schemas are built once per process and then kept.
    program = textwrap.dedent(
        """
        import threading
        from utskick.mm import schemas

        barrier = threading.Barrier(8)
        failures = []

        def first_use():
            barrier.wait()
            try:
                schemas.service_v3()
                schemas.recipient_v3()
            except Exception as error:
                failures.append(repr(error))

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(failures))
        """
    )
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "0", result.stdout + result.stderr
