2,"*
(kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk