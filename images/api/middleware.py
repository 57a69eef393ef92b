"""Every response carries `x-openstack-request-id`, as Glance's do (clients log it)."""
import uuid


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = f"req-{uuid.uuid4()}"
        response = self.get_response(request)
        response.headers.setdefault("x-openstack-request-id", request.request_id)
        return response
