"""OpenAPI schema hooks: answers DRF gives for every operation of a kind, documented once here
instead of in each view."""

UNSUPPORTED_MEDIA_TYPE = {
    "description": "The body is not JSON (the API reads application/json only). Nothing written.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def document_unsupported_media_type(result, generator, request, public):
    """Add the 415 to every operation that takes a body.

    The API's only parser is JSON (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES), so DRF answers 415
    to any other Content-Type as soon as a view reads the body; an operation without a request
    body never reads it, so it never answers 415.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["responses"].setdefault("415", UNSUPPORTED_MEDIA_TYPE)
    return result
