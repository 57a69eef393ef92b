"""Image members (sharing): `/v2/images/ID/members[/MEMBER]`."""
from rest_framework import status
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema

from images.api import openapi as doc


from images import services
from images.api.common import ApiView, authorize_image
from images.exceptions import Forbidden, Invalid, NotFound
from images.models import ImageMember
from images.representation import timestamp


def member_view(member):
    return {"image_id": member.image_id, "member_id": member.member, "status": member.status,
            "created_at": timestamp(member.created_at),
            "updated_at": timestamp(member.updated_at or member.created_at),
            "schema": "/v2/schemas/member"}


class MemberListView(ApiView):
    @extend_schema(operation_id="members_list", responses={200: doc.MEMBERS, **doc.errors(401, 404)})
    def get(self, request, image_id):
        image = self.visible_image(request, image_id, "get_members")
        members = ImageMember.objects.filter(image=image).order_by("id")
        caller = request.caller
        if not caller.admin and image.owner != caller.project:
            members = members.filter(member=caller.project)  # a member sees only itself
        return Response({"members": [member_view(m) for m in members],
                         "schema": "/v2/schemas/members"})

    @extend_schema(request={"application/json": {"type": "object", "required": ["member"], "properties": {"member": {"type": "string"}}}}, responses={200: doc.MEMBER, **doc.errors(400, 401, 403, 404, 409, 413)})
    def post(self, request, image_id):
        image = self.owned_image(request, image_id, "add_member")
        body = self.json_body(request)
        if not isinstance(body, dict) or "member" not in body:
            raise Invalid("Request body must be {\"member\": \"<project id>\"}")
        member = services.member_create(image=image, member=body["member"])
        return Response(member_view(member))


class MemberDetailView(ApiView):
    def _member(self, request, image_id, member_id):
        image = self.visible_image(request, image_id)
        caller = request.caller
        if not caller.admin and image.owner != caller.project and member_id != caller.project:
            raise NotFound(f"No member {member_id} on image {image_id}")
        member = ImageMember.objects.filter(image=image, member=member_id).first()
        if member is None:
            raise NotFound(f"No member {member_id} on image {image_id}")
        return image, member

    @extend_schema(responses={200: doc.MEMBER, **doc.errors(401, 404)})
    def get(self, request, image_id, member_id):
        image, member = self._member(request, image_id, member_id)
        authorize_image(request.caller, image, "get_member")
        return Response(member_view(member))

    @extend_schema(request={"application/json": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["pending", "accepted", "rejected"]}}}}, responses={200: doc.MEMBER, **doc.errors(400, 401, 403, 404)})
    def put(self, request, image_id, member_id):
        image, member = self._member(request, image_id, member_id)
        if not request.caller.admin and member.member != request.caller.project:
            raise Forbidden("Only the member itself may accept or reject a shared image.")
        authorize_image(request.caller, image, "modify_member")
        body = self.json_body(request)
        if not isinstance(body, dict) or "status" not in body:
            raise Invalid("Request body must be {\"status\": \"accepted|rejected|pending\"}")
        return Response(member_view(services.member_update(member=member,
                                                           status=body["status"])))

    @extend_schema(responses={204: None, **doc.errors(401, 403, 404)})
    def delete(self, request, image_id, member_id):
        image, member = self._member(request, image_id, member_id)
        if not request.caller.admin and image.owner != request.caller.project:
            raise Forbidden("Only the image owner may remove a member.")
        authorize_image(request.caller, image, "delete_member")
        services.member_delete(member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)
