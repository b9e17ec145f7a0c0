"""The two examples of the Tilebox progress-indicator page, with only the import changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import httpx
import pytest
from PIL import Image

from conveyor import Client, ExecutionContext, ProgressIndicator, Task


class MyTask(Task):
    def execute(self, context: ExecutionContext) -> None:
        # report that 10 units of work need to be done
        context.progress().add(10)

        for _ in range(10):
            context.submit_subtask(MySubTask())


class MySubTask(Task):
    def execute(self, context: ExecutionContext) -> None:
        # report that one unit of work has been completed
        context.progress().done(1)


class DownloadImages(Task):
    image_urls: list[str]

    def execute(self, context: ExecutionContext) -> None:
        # download and process images from a list of URLs
        n = len(self.image_urls)

        context.progress("download").add(n)
        context.progress("process").add(n)

        for i, url in enumerate(self.image_urls):
            image_name = f"image_{i:04d}.png"
            grayscale_name = f"image_gray_{i:04d}.png"
            download = context.submit_subtask(DownloadImage(url, image_name))
            context.submit_subtask(
                ToGrayscale(image_name, grayscale_name),
                depends_on=[download],
            )


class DownloadImage(Task):
    url: str
    image_name: str

    def execute(self, context: ExecutionContext) -> None:
        response = httpx.get(self.url, follow_redirects=True)
        context.job_cache[self.image_name] = response.read()

        # report that one image has been downloaded
        context.progress("download").done(1)


class ToGrayscale(Task):
    input_image: str
    output_name: str

    def execute(self, context: ExecutionContext) -> None:
        image = Image.open(BytesIO(context.job_cache[self.input_image]))
        image = image.convert("L")  # convert the image to grayscale

        buffer = BytesIO()
        image.save(buffer, format="png")

        context.job_cache[self.output_name] = buffer.getvalue()

        context.progress("process").done(1)


@pytest.fixture
def image_server() -> Iterator[str]:
    """A loopback HTTP server standing in for picsum.photos."""

    def png(color: tuple[int, int, int]) -> bytes:
        buf = BytesIO()
        Image.new("RGB", (50, 50), color).save(buf, format="png")
        return buf.getvalue()

    images = {"/id/123/500/500": png((200, 10, 10)), "/id/155/500/500": png((10, 200, 10))}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = images.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_unnamed_progress_example(client: Client) -> None:
    jobs = client.jobs()
    job = jobs.submit("progress", MyTask())
    client.runner(tasks=[MyTask, MySubTask]).run_all()
    job = jobs.find(job.id)
    assert job.state.value == "COMPLETED"
    assert job.progress == [ProgressIndicator(label=None, total=10, done=10)]


def test_download_images_example(client: Client, image_server: str) -> None:
    job_client = client.jobs()
    job = job_client.submit(
        "download-images",
        DownloadImages(
            [
                f"{image_server}/id/123/500/500",
                f"{image_server}/id/155/500/500",
            ],
        ),
    )
    runner = client.runner(tasks=[DownloadImages, DownloadImage, ToGrayscale])
    runner.run_all()

    job = job_client.find(job.id)  # refresh the job object
    assert job.state.value == "COMPLETED"
    assert job.progress == [
        ProgressIndicator(label="download", total=2, done=2),
        ProgressIndicator(label="process", total=2, done=2),
    ]
    entry = client.store.get_cache_entry(job.id, "image_gray_0001.png")
    assert entry is not None
    gray_png = entry.value if entry.value is not None else client.blobs.get(str(entry.blob_key))
    gray = Image.open(BytesIO(gray_png))
    assert gray.mode == "L"
