"""What every Image API view shares: the caller, JSON bodies, rights, request ids."""
import json

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from images import policy
from images.exceptions import Forbidden, Invalid, NotFound
from images.models import ImageMember
from images.selectors import Caller, image_get_visible


class JsonAlways(BaseContentNegotiation):
    """JSON whatever the Accept header says: openstacksdk sends an empty one, glanceclient
    `*/*`, and Glance answers both with JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class UnreadBodyParser(BaseParser):
    """Accepts any body and leaves it unread.

    The views read bodies themselves (JSON, or an upload streamed to a store); DRF must not.
    It still asks for `request.POST` when it checks the CSRF token of a browser session,
    which would otherwise answer 415 to the portal's JSON requests.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def has_body(request):
    meta = request.META
    return bool(meta.get("CONTENT_LENGTH") not in (None, "", "0")
                or "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower())


class ApiView(APIView):
    """An Image API endpoint: JSON out, bodies read by the view itself (never by DRF's
    parsers, which would spool an upload or refuse glanceclient's content types)."""

    parser_classes = [UnreadBodyParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAlways

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("GET", "HEAD", "DELETE") and has_body(request._request):
            raise Invalid(f"A {request.method} request may not carry a body.")
        request.caller = Caller.of(request.user)

    def json_body(self, request):
        """The request body as JSON, whatever its Content-Type (as Glance parses it)."""
        raw = request._request.body
        if not raw:
            raise Invalid("Request body is missing; a JSON body is required.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Invalid("Malformed JSON in request body.") from None

    def visible_image(self, request, image_id, rule="get_image"):
        """The image, if the caller sees it and the policy lets it do `rule`: 404 if unseen,
        403 if seen but the rule denies."""
        image = image_get_visible(image_id, request.caller)
        authorize_image(request.caller, image, rule)
        return image

    def owned_image(self, request, image_id, rule="modify_image"):
        """The image, if the caller may change it: 404 if unseen, 403 if seen but not theirs
        or if the policy denies `rule` (a reader's write)."""
        image = image_get_visible(image_id, request.caller)
        authorize_image(request.caller, image, "get_image")
        check_owner(request.caller, image)
        authorize_image(request.caller, image, rule)
        return image


def check_owner(caller, image):
    if not caller.admin and (caller.project is None or image.owner != caller.project):
        raise Forbidden("You are not permitted to modify this image.")


def authorize_image(caller, image, rule):
    """Glance's answer to a rule the policy denies on an image: 403 when the caller may see
    the image, else 404, so a refusal does not reveal that the image exists."""
    target = policy.image_target(image, caller, member=is_member(image, caller))
    if policy.allowed(caller, rule, target):
        return
    if rule != "get_image" and policy.allowed(caller, "get_image", target):
        raise Forbidden(f"Policy doesn't allow {rule} to be performed.")
    raise NotFound(f"No image found with ID {image.id}")


def is_member(image, caller):
    if caller.project is None or image.owner == caller.project:
        return False
    return ImageMember.objects.filter(image=image, member=caller.project).exists()


def is_admin(request):
    return request.caller.admin
