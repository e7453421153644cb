"""How the API reports a refusal: every error is JSON, and each kind has one status code.

DRF already turns its own exceptions, Django's Http404 and PermissionDenied into 404/403;
this adds the domain's refusals, so a view calls a service and lets them through:
`django.core.exceptions.ValidationError` → 400 and `TransitionNotAllowed` → 409, each with
the message the service wrote for a person.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from django_fsm import TransitionNotAllowed
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def validation_detail(error: DjangoValidationError) -> dict:
    """A service's ValidationError as DRF shapes a serializer's: {field: [messages]}, and the
    messages not about one field under "detail"."""
    if hasattr(error, "error_dict"):
        detail = {}
        for field, messages in error.message_dict.items():
            detail["detail" if field == "__all__" else field] = messages
        return detail
    return {"detail": " ".join(error.messages)}


def exception_handler(exc, context):
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_detail(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)


ErrorSerializer = inline_serializer(
    name="Error", fields={"detail": serializers.CharField(help_text="What went wrong.")}
)

ERRORS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid input: {field: [messages]}, or {detail: message}. Nothing written.",
    ),
    403: OpenApiResponse(
        ErrorSerializer,
        description="Not signed in, or the role lacks the permission. Nothing written.",
    ),
    404: OpenApiResponse(ErrorSerializer, description="No such object (or an invalid cursor)."),
    409: OpenApiResponse(
        ErrorSerializer,
        description="The object's state does not allow this transition. Nothing written.",
    ),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an operation really returns, for `extend_schema(responses=...)`."""
    return {code: ERRORS[code] for code in codes}


def not_found(request, exception=None):
    """handler404: an API client gets JSON for a path no endpoint matches; a person gets the
    site's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
